package service

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
)

// testService is a Service run for a test, with its JSON logs.
type testService struct {
	*Service
	logs   *loadtest.SyncBuffer
	stop   context.CancelFunc
	exited <-chan error // Run's error, once it returns
	run    *loadtest.Lifecycle
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
	s.run.AwaitRunning(t, s.Running())
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
	run := loadtest.Launch(t, svc.Run, logs)
	return &testService{Service: svc, logs: logs, stop: run.Stop, exited: run.Exited, run: run}
}
