package stages

import (
	"fmt"
	"runtime/debug"
	"unicode/utf8"

	"github.com/fetchstream/fetchstream/wire"
)

// Panic is a panic a stage recovered from while handling one URL's result
// (or, Index -1, a batch's summary or a site's robots.txt fetch): the URL ends as unexpected_error,
// with a message that says it panicked and no stack, and the stream goes
// on. It is handed to the stage's OnPanic hook, for the log (with Stack)
// and a count.
type Panic struct {
	Stage   string // "fetch", "encode" or "publish"
	BatchID string
	Index   int    // the URL's index in its batch; -1 for the summary
	URL     string // the URL, when there is one
	Value   any    // what was passed to panic
	Stack   []byte // the goroutine's stack where it panicked
}

// OnPanic is told of each Panic a stage recovered from. It is called on
// the stage's goroutine and must return quickly; nil: nothing is told.
type OnPanic func(Panic)

// PanicMessage is the result message of a URL whose handling panicked:
// the stage and the panic's value, cut to 200 bytes, never the stack.
func PanicMessage(stage string, value any) string {
	return cutString(fmt.Sprintf("%s panicked: %v", stage, value), 200)
}

// Tell fills in p's Stack and tells hook, if it is set. Call it from the
// deferred function that recovered, so the stack is the panic's.
func (hook OnPanic) Tell(p Panic) {
	if hook != nil {
		p.Stack = debug.Stack()
		hook(p)
	}
}

// Recover is the one recover at the stages' goroutine boundaries (the
// fetch engine's workers and robots.txt fetches, the encode stage), as a
// router's recoverer middleware is one function: deferred directly around
// the handling of one element, it stops a panic there, calls ended with
// the panic's value, which puts in place what the element ends as (the
// URL's unexpected_error, say) and names it, and tells hook (nil: no one)
// that Panic, with the stack. Without a panic it does nothing. The
// goroutine lives on, and so does the stream.
func Recover(hook OnPanic, ended func(value any) Panic) {
	if v := recover(); v != nil {
		p := ended(v)
		p.Value = v
		hook.Tell(p)
	}
}

// PanicResult is the result a URL ends with when its handling panicked.
func PanicResult(stage string, value any, url string) wire.Result {
	return wire.Result{URL: url, Error: wire.ErrUnexpected, Message: PanicMessage(stage, value)}
}

// cutString returns the longest prefix of s of at most n bytes that does
// not split a UTF-8 sequence.
func cutString(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
