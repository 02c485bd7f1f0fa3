package service

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
)

// testService is a Service run for a test, with its JSON logs.
type testService struct {
	*Service
	logs   *loadtest.SyncBuffer
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
	logs := &loadtest.SyncBuffer{}
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
