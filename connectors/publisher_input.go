package connectors

import "time"

// This file is the publisher's input: where it reads its elements from
// (its In, or the output of the stage before it: see ReadFrom) and its
// one loop over them.

// In returns the input channel; the upstream closes it. The publisher
// reads it unless ReadFrom came first.
func (p *Publisher) In() chan<- any {
	p.wire(p.in)
	return p.in
}

// ReadFrom makes the publisher take its elements from out, the output of
// the stage before it, instead of In, which then goes unused: no
// goroutine relays between the two (the fetch engine's To calls it), a
// hand-off per element saved. The stage before closes out when it is
// done. It reports false, and changes nothing, once In was asked for.
func (p *Publisher) ReadFrom(out <-chan any) bool { return p.wire(out) }

// wire gives run its source, the first time only.
func (p *Publisher) wire(src <-chan any) bool {
	if !p.wired.CompareAndSwap(false, true) {
		return false
	}
	p.source <- src
	return true
}

// AwaitCompletion blocks until its input (In, or the output ReadFrom
// took) is closed and all is published and settled.
func (p *Publisher) AwaitCompletion() { <-p.done }

func (p *Publisher) run() {
	defer close(p.done)
	defer p.settling.Wait()
	src := <-p.source
	for element := range src {
		p.handle(element)
		// Once the run that was ready is published, linger, so that
		// results coming close together are written to NATS together.
		if p.cfg.Linger > 0 && len(src) == 0 {
			time.Sleep(p.cfg.Linger)
		}
	}
}
