package connectors

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// Every caller returns only after a flush that started after its call;
// callers that come together share flushes; a failed flush fails those
// who shared it.
func TestFlushGroupCoversEveryCallerAndShares(t *testing.T) {
	var (
		mu             sync.Mutex
		started        int // flushes started so far
		lastDoneStart  int // the start number of the last flush ended
		fail           bool
		errFlushFailed = errors.New("flush failed")
	)
	g := &flushGroup{flush: func() error {
		mu.Lock()
		started++
		n := started
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		lastDoneStart = n
		if fail {
			return errFlushFailed
		}
		return nil
	}}
	const callers = 100
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			<-begin
			mu.Lock()
			before := started
			mu.Unlock()
			if err := g.do(); err != nil {
				t.Errorf("do: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if lastDoneStart <= before {
				t.Errorf("returned after flush %d, which started before the call (flush %d had started)", lastDoneStart, before)
			}
		})
	}
	close(begin)
	wg.Wait()
	if started >= callers/2 {
		t.Errorf("%d flushes for %d callers arriving together: not shared", started, callers)
	}
	t.Logf("%d callers, %d flushes", callers, started)

	mu.Lock()
	fail = true
	mu.Unlock()
	if err := g.do(); !errors.Is(err, errFlushFailed) {
		t.Errorf("do after a failed flush: %v", err)
	}
}
