package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
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

// service is a `fetchstream run` started through Main, as the binary runs.
type service struct {
	logs   *syncBuffer
	stop   context.CancelFunc
	exited chan int
}

// startService runs `fetchstream run` against natsURL with loopback
// targets allowed, and waits until it is consuming. It is stopped (and its
// exit awaited) when t ends.
func startService(t *testing.T, natsURL string, args ...string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{logs: &syncBuffer{}, stop: cancel, exited: make(chan int, 1)}
	argv := append([]string{"run", "--nats-url", natsURL, "--allow-net", "127.0.0.0/8", "--log-format", "json"}, args...)
	go func() { s.exited <- Main(ctx, argv, &syncBuffer{}, s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("service did not exit; logs:\n%s", s.logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), "fetchstream running") {
		select {
		case code := <-s.exited:
			t.Fatalf("service exited with %d before running; logs:\n%s", code, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not start; logs:\n%s", s.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
