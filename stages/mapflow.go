package stages

import (
	"sync"

	"github.com/reugn/go-streams"
	"github.com/reugn/go-streams/flow"
)

// HandoffBuffer is the capacity of the channels between the stages after
// the fetch stage (its Out, Encode's In and Out, and the publisher's In),
// in results. Under load a stage's goroutine then takes a run of results
// per wake-up, instead of handing each one over in lockstep with its
// neighbours. It adds a fixed bound: at most 4 × HandoffBuffer results
// wait between the fetch stage and NATS, whatever the batches (2 ×, the
// fetch stage's Out and the publisher's In, when Encode is wired to both
// directly, as the service's pipeline is: see mapFlow).
const HandoffBuffer = 64

// mapFlow is a go-streams Flow that applies fn to each element, one at a
// time and in order: flow.Map with parallelism 1, but through buffered
// channels (see HandoffBuffer), which flow.Map does not offer, and with
// no relay goroutine on either side where it can be wired directly:
//
//   - its input is In, or, when the stage before it hands over its own
//     output first (ReadFrom, which the fetch engine's Via calls), that
//     output itself;
//   - its output is the next stage's In when it is wired to it (Via, To)
//     before Out is asked for; else Out, relayed to a later Via or To by
//     go-streams' flow.DoStream.
//
// Each hop saved is a goroutine's wake-up and a channel's send and
// receive per element. Use one of Out, Via and To. The flow starts with
// the first of them; it closes its output once its input is closed and
// the last element is passed on; the upstream closes its input.
type mapFlow struct {
	fn func(any) any
	in chan any

	mu      sync.Mutex
	src     <-chan any // the stage before's output, from ReadFrom; nil: in
	out     chan any   // made by Out
	started bool
}

var _ streams.Flow = (*mapFlow)(nil)

func newMapFlow(fn func(any) any) *mapFlow {
	return &mapFlow{fn: fn, in: make(chan any, HandoffBuffer)}
}

// In returns the input channel; the upstream closes it.
func (m *mapFlow) In() chan<- any { return m.in }

// ReadFrom makes the flow take its elements from out, the output of the
// stage before it, instead of In, which then goes unused: no goroutine
// relays between the two. The stage before calls it from its Via, and
// closes out when it is done. It reports false, and changes nothing, once
// the flow has started.
func (m *mapFlow) ReadFrom(out <-chan any) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return false
	}
	m.src = out
	return true
}

// start runs fn over the input into dst, which it closes at the end,
// unless the flow has started already (it then reports false).
func (m *mapFlow) start(dst chan<- any) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return false
	}
	m.started = true
	src := m.src
	if src == nil {
		src = m.in
	}
	go func() {
		defer close(dst)
		for element := range src {
			dst <- m.fn(element)
		}
	}()
	return true
}

// Out returns the output channel, closed by the flow when it is done; nil
// once the flow writes into the next stage's In (see Via).
func (m *mapFlow) Out() <-chan any {
	m.mu.Lock()
	if m.out == nil && !m.started {
		m.out = make(chan any, HandoffBuffer)
	}
	out := m.out
	m.mu.Unlock()
	if out != nil {
		m.start(out)
	}
	return out
}

// Via streams the output to next and returns next: straight into its In
// when the flow has not started, else through flow.DoStream.
func (m *mapFlow) Via(next streams.Flow) streams.Flow {
	if !m.start(next.In()) {
		flow.DoStream(m, next)
	}
	return next
}

// To streams the output to sink and blocks until the sink completes.
func (m *mapFlow) To(sink streams.Sink) {
	if !m.start(sink.In()) {
		flow.DoStream(m, sink)
	}
	sink.AwaitCompletion()
}
