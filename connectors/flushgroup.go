package connectors

import "sync"

// flushGroup shares flushes between batches that settle at the same time.
// A caller of do returns once a flush that started after its call has
// ended, so the server has everything the caller published before it.
// Callers that arrive while a flush is out share the next one: a burst of
// batches costs a few round trips to the server, not one each.
type flushGroup struct {
	flush func() error

	mu      sync.Mutex
	running bool       // a goroutine is running flushes
	next    *flushCall // callers waiting for a flush not yet started
}

type flushCall struct {
	done chan struct{}
	err  error
}

// do waits for a flush that starts after it is called, and returns its
// error.
func (g *flushGroup) do() error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &flushCall{done: make(chan struct{})}
	}
	call := g.next
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	<-call.done
	return call.err
}

// run flushes for the waiting callers, again and again while more come,
// then stops.
func (g *flushGroup) run() {
	for {
		g.mu.Lock()
		call := g.next
		g.next = nil
		if call == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		call.err = g.flush()
		close(call.done)
	}
}
