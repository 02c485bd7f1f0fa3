package service

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// syncBuffer is a bytes.Buffer safe for the service's logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testService is a Service run for a test, with its JSON logs.
type testService struct {
	*Service
	logs   *syncBuffer
	stop   context.CancelFunc
	exited chan error // Run's error, once it returns
}

// testConfig is Defaults joined to natsURL, with loopback targets allowed,
// then changed by edit (if not nil).
func testConfig(natsURL string, edit func(*Config)) Config {
	cfg := Defaults()
	cfg.NATS.URL = natsURL
	cfg.Fetch.AllowNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// start runs a service on testConfig(natsURL, edit) and waits until it
// is consuming (Running). It is stopped, and its Run awaited, when t ends.
func start(t *testing.T, natsURL string, edit func(*Config)) *testService {
	t.Helper()
	s := launch(t, testConfig(natsURL, edit))
	select {
	case <-s.Running():
	case err := <-s.exited:
		t.Fatalf("Run returned before running: %v; logs:\n%s", err, s.logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("service not running within 10s; logs:\n%s", s.logs)
	}
	return s
}

// launch is start without the wait, for a cfg New accepts.
func launch(t *testing.T, cfg Config) *testService {
	t.Helper()
	logs := &syncBuffer{}
	svc, err := New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testService{Service: svc, logs: logs, stop: cancel, exited: make(chan error, 1)}
	go func() { s.exited <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-svc.stopped:
		case <-time.After(20 * time.Second):
			t.Errorf("service did not stop; logs:\n%s", s.logs)
		}
	})
	return s
}

// subscription collects the JSON messages of one subject.
type subscription struct {
	t   *testing.T
	sub *nats.Subscription
}

func subscribe(t *testing.T, nc *nats.Conn, subject string) *subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &subscription{t: t, sub: sub}
}

// next decodes the next message into v, failing the test after timeout.
func (s *subscription) next(v any, timeout time.Duration) {
	s.t.Helper()
	m, err := s.sub.NextMsg(timeout)
	if err != nil {
		s.t.Fatalf("no message on %s within %s: %v", s.sub.Subject, timeout, err)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		s.t.Fatalf("message on %s: %v: %s", s.sub.Subject, err, m.Data)
	}
}

// results reads n results.
func (s *subscription) results(n int, timeout time.Duration) []wire.Result {
	s.t.Helper()
	out := make([]wire.Result, n)
	for i := range out {
		s.next(&out[i], timeout)
	}
	return out
}

// startNATS starts an embedded server and a client for the test.
func startNATS(t *testing.T) (string, *nats.Conn) {
	t.Helper()
	ns, nc := natstest.Start(t)
	return ns.ClientURL(), nc
}
