package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/fetchstream/fetchstream/stages"

	"github.com/fetchstream/fetchstream/wire"
)

// A batch driven in random order (starts, completions and sends
// interleaved as the dispatcher may) emits every result once, in index
// order, never has more than a window started and not sent, and grows its
// ring no further than the window.
func TestBatchStateRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		n, window := 1+rng.IntN(300), 1+rng.IntN(40)
		b := newBatchState(&stages.Job{ID: "b", Requests: make([]wire.Request, n)}, window)
		var running, unsent []int // indices in flight; queued but not yet sent
		emitted := 0
		for steps := 0; emitted < n || len(unsent) > 0; steps++ {
			if steps > 100*n+1000 {
				t.Fatalf("round %d (n %d, window %d): stuck with %d of %d emitted, next to start %d", round, n, window, emitted, n, b.nextStart)
			}
			switch op := rng.IntN(3); {
			case op == 0 && len(running) < 16:
				if i := b.nextIndex(1 << 30); i >= 0 {
					b.start(i)
					running = append(running, i)
				}
			case op == 1 && len(running) > 0:
				k := rng.IntN(len(running))
				i := running[k]
				running = append(running[:k], running[k+1:]...)
				b.complete(i, &stages.Fetched{Result: wire.Result{Index: i}}, func(f *stages.Fetched) {
					r := f.Result
					if r.Index != emitted {
						t.Fatalf("round %d (n %d, window %d): result %d emitted when %d was due", round, n, window, r.Index, emitted)
					}
					emitted++
					unsent = append(unsent, r.Index)
				})
			case op == 2 && len(unsent) > 0:
				b.markSent()
				unsent = unsent[1:]
			}
			if started := b.nextStart - b.sent; started > window {
				t.Fatalf("round %d: %d started and not sent, window %d", round, started, window)
			}
			if len(b.ring) > window {
				t.Fatalf("round %d: ring of %d for a window of %d", round, len(b.ring), window)
			}
		}
		if !b.allQueued() || b.hasUnstarted() {
			t.Fatalf("round %d: not done: queued %d of %d", round, b.queued, n)
		}
	}
}
