package main

import (
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire"
)

// syncBuffer is loadtest.SyncBuffer under the name this package's tests use.
type syncBuffer = loadtest.SyncBuffer

// startService runs the service as `fetchstream run` would with args
// (and --nats-url natsURL --allow-net 127.0.0.0/8): flags parsed into a
// Config, then service.New and Run. It waits until the service is
// consuming (Running), and stops it, awaiting Run, when t ends.
func startService(t *testing.T, natsURL string, args ...string) *service.Service {
	t.Helper()
	var flags runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.register(fs)
	if err := fs.Parse(append([]string{"--nats-url", natsURL, "--allow-net", "127.0.0.0/8"}, args...)); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.config()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	svc, err := service.New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	loadtest.Launch(t, svc.Run, logs).AwaitRunning(t, svc.Running())
	return svc
}

// subscription is a loadtest.Subscription with the lower-case reads this
// package's tests use; its methods are that type's.
type subscription struct {
	t *testing.T
	*loadtest.Subscription
}

// subscribe is loadtest.Subscribe.
func subscribe(t *testing.T, nc *nats.Conn, subject string) *subscription {
	t.Helper()
	return &subscription{t: t, Subscription: loadtest.Subscribe(t, nc, subject)}
}

// next is loadtest.Subscription.Next.
func (s *subscription) next(v any, timeout time.Duration) {
	s.t.Helper()
	s.Next(v, timeout)
}

// results is loadtest.Subscription.Results.
func (s *subscription) results(n int, timeout time.Duration) []wire.Result {
	s.t.Helper()
	return s.Results(n, timeout)
}
