package stages

import (
	"testing"

	"github.com/reugn/go-streams/flow"
)

// A map flow wired on both sides reads the stage before's output itself
// and writes into the next stage's In: every element, in order, and the
// next stage's input closed at the end. Once started, it takes no other
// input.
func TestMapFlowWiredDirectly(t *testing.T) {
	m := newMapFlow(func(e any) any { return e.(int) * 2 })
	src := make(chan any)
	if !m.ReadFrom(src) {
		t.Fatal("ReadFrom refused before the flow started")
	}
	next := flow.NewPassThrough()
	if m.Via(next) != next {
		t.Fatal("Via did not return next")
	}
	if m.ReadFrom(make(chan any)) {
		t.Error("ReadFrom took another input once the flow had started")
	}
	go func() {
		for i := range 100 {
			src <- i
		}
		close(src)
	}()
	want := 0
	for e := range next.Out() {
		if e.(int) != want*2 {
			t.Fatalf("element %d is %v, want %d", want, e, want*2)
		}
		want++
	}
	if want != 100 {
		t.Fatalf("%d elements out, want 100", want)
	}
}

// Read through Out, then relayed by a later Via, a map flow still passes
// every element on in order.
func TestMapFlowOutThenVia(t *testing.T) {
	m := newMapFlow(func(e any) any { return e })
	_ = m.Out()
	next := m.Via(flow.NewPassThrough())
	go func() {
		for i := range 10 {
			m.In() <- i
		}
		close(m.In())
	}()
	n := 0
	for e := range next.Out() {
		if e.(int) != n {
			t.Fatalf("element %d is %v", n, e)
		}
		n++
	}
	if n != 10 {
		t.Fatalf("%d elements out, want 10", n)
	}
}
