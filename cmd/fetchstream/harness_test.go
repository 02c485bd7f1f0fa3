package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
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
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Errorf("service did not exit; logs:\n%s", logs)
		}
	})
	select {
	case <-svc.Running():
	case err := <-exited:
		t.Fatalf("service stopped before running: %v; logs:\n%s", err, logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("service did not start; logs:\n%s", logs)
	}
	return svc
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
