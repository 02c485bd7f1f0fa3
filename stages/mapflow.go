package stages

import (
	"github.com/reugn/go-streams"
	"github.com/reugn/go-streams/flow"
)

// HandoffBuffer is the capacity of the channels between the stages after
// the fetch stage (its Out, Encode's In and Out, and the publisher's In),
// in results. Under load a stage's goroutine then takes a run of results
// per wake-up, instead of handing each one over in lockstep with its
// neighbours. It adds a fixed bound: at most 4 × HandoffBuffer results
// wait between the fetch stage and NATS, whatever the batches.
const HandoffBuffer = 64

// mapFlow is a go-streams Flow that applies fn to each element, one at a
// time and in order: flow.Map with parallelism 1, but through buffered
// channels (see HandoffBuffer), which flow.Map does not offer; its relay
// to the next stage is go-streams' own flow.DoStream. It closes its output once its input is
// closed and the last element is passed on; the upstream closes In.
type mapFlow struct {
	ports
	fn func(any) any
}

var _ streams.Flow = (*mapFlow)(nil)

func newMapFlow(fn func(any) any) *mapFlow {
	m := &mapFlow{fn: fn, ports: ports{in: make(chan any, HandoffBuffer), out: make(chan any, HandoffBuffer)}}
	go func() {
		defer close(m.out)
		for element := range m.in {
			m.out <- m.fn(element)
		}
	}()
	return m
}

// ports are the channels of a stage that is its own go-streams Flow, with
// the Flow methods around them. The stage closes out when it is done; the
// upstream closes in.
type ports struct {
	in  chan any
	out chan any
}

// In returns the input channel; the upstream closes it.
func (p *ports) In() chan<- any { return p.in }

// Out returns the output channel, closed by the stage when it is done.
func (p *ports) Out() <-chan any { return p.out }

// Via streams the output to next (go-streams' flow.DoStream) and returns next.
func (p *ports) Via(next streams.Flow) streams.Flow {
	flow.DoStream(p, next)
	return next
}

// To streams the output to sink and blocks until the sink completes.
func (p *ports) To(sink streams.Sink) {
	flow.DoStream(p, sink)
	sink.AwaitCompletion()
}
