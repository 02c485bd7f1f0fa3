package httpfetch

import (
	"net/http/httptrace"
	"sync"

	oteltrace "go.opentelemetry.io/otel/trace"
)

// attemptState is what one attempt's hooks write to: its redirect hops
// (from CheckRedirect, on the goroutine that called Do) and its trace
// (from the transport's goroutines), plus a buffer to read the body into.
// States are reused, with their trace hooks built once, through an
// attemptStates pool.
type attemptState struct {
	hops hops
	spec *spec // the request, read by CheckRedirect
	// span is the attempt's CLIENT span, for its redirects; nil when the
	// attempt is not traced.
	span  oteltrace.Span
	trace trace
	hooks *httptrace.ClientTrace // feeds trace
	buf   []byte
}

// maxKeptBuffer caps the body buffer a pooled state keeps.
const maxKeptBuffer = 64 << 10

// keepBuffer keeps buf, the body just read into the state's buffer (grown
// or not), for the next attempt, unless it has grown past maxKeptBuffer.
func (st *attemptState) keepBuffer(buf []byte) {
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	st.buf = buf[:0]
}

// quiet reports whether nothing can write to st any more (see put).
func (st *attemptState) quiet(answered bool) bool { return answered && st.trace.noDials() }

// attemptStates pools attempt states.
type attemptStates struct{ pool sync.Pool }

func (p *attemptStates) get() *attemptState {
	if st, ok := p.pool.Get().(*attemptState); ok {
		return st
	}
	st := &attemptState{}
	st.hooks = st.trace.hooks()
	return st
}

// put takes st back once its attempt is over, but only when nothing can
// still write to it: the attempt was answered (of the hooks a state sets,
// the transport calls none after handing over the response; WroteRequest,
// which may come later, is not set, while a request that failed may still
// see GotFirstResponseByte from a read in progress), and no dial was
// started for it (a dial goes on after the request that began it has
// ended, and fires its hooks then; see trace.noDials). Any other state is
// left to the garbage collector.
func (p *attemptStates) put(st *attemptState, answered bool) {
	if !st.quiet(answered) {
		return
	}
	st.trace.reset()
	st.hops, st.spec, st.span = hops{}, nil, nil
	p.pool.Put(st)
}
