package connectors_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// gateFetcher holds every fetch until open is closed (or ctx ends).
type gateFetcher struct {
	open    chan struct{}
	started atomic.Int64
}

func (f *gateFetcher) Do(ctx context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	rawURL := req.URL
	f.started.Add(1)
	select {
	case <-f.open:
	case <-ctx.Done():
		return wire.Result{URL: rawURL, Error: wire.ErrCanceled}
	}
	return wire.Result{URL: rawURL, Status: 200}
}

// gatedMicro is a core source on "in" behind the micro endpoint
// fetchstream.fetch (both in queue group q), chained to a gateFetcher
// whose fetches wait until fetcher.open is closed. cancel ends the
// source (the test's shutdown); done is closed once the chain has ended.
type gatedMicro struct {
	svc     micro.Service
	client  *nats.Conn // a connection of its own to send requests on
	fetcher *gateFetcher
	cancel  context.CancelFunc
	done    <-chan struct{}
}

// startGatedMicro starts a gatedMicro whose endpoint keeps at most
// pendingMsgs requests pending (0 means connectors.DefaultPendingBatches). The source
// is cancelled when t ends.
func startGatedMicro(t *testing.T, pendingMsgs int) *gatedMicro {
	t.Helper()
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src, err := connectors.NewCoreSource(ctx, nc, connectors.CoreSourceConfig{Subject: "in", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := connectors.RegisterMicro(nc, src, connectors.MicroConfig{Name: "fetchstream", Version: "0.0.1",
		Subject: "fetchstream.fetch", Queue: "q", PendingMsgs: pendingMsgs})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := &gateFetcher{open: make(chan struct{})}
	done := chain(t, context.Background(), nc, src, fetcher)
	return &gatedMicro{svc: svc, client: natstest.Connect(t, nc.ConnectedUrl()), fetcher: fetcher, cancel: cancel, done: done}
}

// Requests the micro endpoint took before a shutdown all get an answer:
// their results, or, for those that reach a source already closed, a 503
// error saying to send again; none is left to time out.
func TestMicroRequestsInFlightAtShutdownAllGetAnAnswer(t *testing.T) {
	t.Parallel()
	m := startGatedMicro(t, 0)
	client, fetcher, cancel, done := m.client, m.fetcher, m.cancel, m.done

	const requests = 30
	var (
		wg       sync.WaitGroup
		results  atomic.Int64
		refused  atomic.Int64
		unanswer atomic.Int64
	)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply, err := client.Request("fetchstream.fetch", []byte("http://x/"), 20*time.Second)
			switch {
			case err != nil:
				unanswer.Add(1)
			case reply.Header.Get(micro.ErrorCodeHeader) == "503":
				refused.Add(1)
			case strings.HasPrefix(string(reply.Data), "["):
				results.Add(1)
			default:
				t.Errorf("unexpected reply %q %v", reply.Data, reply.Header)
			}
		}()
	}
	eventually(t, 10*time.Second, "the pipeline is fetching", func() bool { return fetcher.started.Load() >= 2 })
	time.Sleep(100 * time.Millisecond) // the rest are queued on the endpoint
	cancel()
	time.Sleep(200 * time.Millisecond)
	close(fetcher.open)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("requests still waiting 30s after the shutdown")
	}
	<-done
	if unanswer.Load() != 0 {
		t.Errorf("%d of %d requests got no answer (%d results, %d refused)", unanswer.Load(), requests, results.Load(), refused.Load())
	}
	if results.Load() < 2 {
		t.Errorf("%d requests got their results, want at least the ones being fetched", results.Load())
	}
	t.Logf("%d results, %d refused with 503", results.Load(), refused.Load())
}

// The endpoint has pending limits as the input subject has: with the
// pipeline stuck, requests past them are dropped as a slow consumer
// instead of piling up in memory.
func TestMicroEndpointHasPendingLimits(t *testing.T) {
	t.Parallel()
	m := startGatedMicro(t, 2)
	svc, client, fetcher, cancel, done := m.svc, m.client, m.fetcher, m.cancel, m.done
	inbox := nats.NewInbox()
	for range 200 {
		if err := client.PublishRequest("fetchstream.fetch", inbox, []byte("http://x/")); err != nil {
			t.Fatal(err)
		}
	}
	_ = client.Flush()
	eventually(t, 10*time.Second, "the endpoint reports a slow consumer", func() bool {
		ep := svc.Stats().Endpoints[0]
		return ep.NumErrors > 0 && strings.Contains(ep.LastError, "slow consumer")
	})
	close(fetcher.open)
	cancel()
	<-done
}
