package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Lifecycle is a service's Run(ctx) started for a test.
type Lifecycle struct {
	// Exited receives Run's error once it returns: one value, so a test
	// that reads it has taken it.
	Exited <-chan error
	// Stop cancels Run's context, as a signal would.
	Stop context.CancelFunc

	logs fmt.Stringer
	done chan struct{} // closed once Run has returned
}

// Launch calls run in a goroutine with a context that Stop, or the end
// of t, cancels. When t ends it waits up to 20s for run to return, and
// fails t with logs (the service's log, read at failure) if it does not.
func Launch(t testing.TB, run func(context.Context) error, logs fmt.Stringer) *Lifecycle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	l := &Lifecycle{Exited: exited, Stop: cancel, logs: logs, done: make(chan struct{})}
	go func() {
		exited <- run(ctx)
		close(l.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(20 * time.Second):
			t.Errorf("service did not stop; logs:\n%s", l.logs)
		}
	})
	return l
}

// AwaitRunning waits until running (the service's Running channel) is
// closed, failing t if Run returns first or 10s pass.
func (l *Lifecycle) AwaitRunning(t testing.TB, running <-chan struct{}) {
	t.Helper()
	select {
	case <-running:
	case err := <-l.Exited:
		t.Fatalf("Run returned before running: %v; logs:\n%s", err, l.logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("service not running within 10s; logs:\n%s", l.logs)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a service's (or a
// command's) log writer that the test reads while it runs. The zero value
// is ready.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
