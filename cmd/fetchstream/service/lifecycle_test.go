package service

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Running closes once the service consumes, in both modes; then Ready is
// nil and the accessors tell what a test or embedder needs. Before Run,
// Ready says starting; after, stopped; Run runs once.
func TestRunningThenReady(t *testing.T) {
	for _, jetStream := range []bool{false, true} {
		t.Run(map[bool]string{false: "core", true: "jetstream"}[jetStream], func(t *testing.T) {
			ns, _ := natstest.Start(t)
			url := ns.ClientURL()
			cfg := testConfig(url, func(c *Config) { c.JetStream.Enabled = jetStream; c.Ops.MetricsAddr = "127.0.0.1:0" })
			svc, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "starting") {
				t.Errorf("Ready before Run = %v, want not ready: starting", err)
			}
			s := start(t, url, func(c *Config) { *c = cfg })
			if err := s.Ready(); err != nil {
				t.Errorf("Ready once running = %v, want nil", err)
			}
			if s.NATSURL() != url || s.Conn() == nil || !s.Conn().IsConnected() {
				t.Errorf("NATSURL %q (want %q), Conn %v", s.NATSURL(), url, s.Conn())
			}
			if code, body := get(t, opsAddr(s)+"/readyz"); code != 200 || body != "ready\n" {
				t.Errorf("/readyz on %s = %d %q", s.OpsAddr(), code, body)
			}
			if err := s.Run(t.Context()); !errors.Is(err, ErrRunTwice) {
				t.Errorf("a second Run = %v, want ErrRunTwice", err)
			}
			s.stop()
			if err := <-s.exited; err != nil {
				t.Errorf("Run after cancel with nothing in flight = %v, want nil", err)
			}
			if err := s.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "stopped") {
				t.Errorf("Ready after Run = %v, want not ready: stopped", err)
			}
		})
	}
}

// The embedded server: NATSURL is where it listens.
func TestRunningEmbedded(t *testing.T) {
	s := start(t, "", func(c *Config) { c.NATS.Listen, c.NATS.DataDir = "127.0.0.1:-1", t.TempDir() })
	if !strings.HasPrefix(s.NATSURL(), "nats://127.0.0.1:") || strings.HasSuffix(s.NATSURL(), ":-1") {
		t.Errorf("NATSURL = %q, want the embedded server's client URL", s.NATSURL())
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready = %v", err)
	}
}

// A metrics address already taken ends Run with an error naming it, and
// the service never runs.
func TestTakenMetricsAddrEndsRun(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := launch(t, testConfig(url, func(c *Config) { c.Ops.MetricsAddr = taken.Addr().String() }))
	select {
	case err := <-s.exited:
		if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
			t.Errorf("Run = %v, want an error naming %s", err, taken.Addr())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still going with its metrics address taken")
	}
	select {
	case <-s.Running():
		t.Error("Running closed, though the service could not serve its ops endpoint")
	default:
	}
}

// A micro registration that fails ends Run with its error (it used to be
// only a warning): here a queue group core NATS takes but micro refuses.
func TestMicroRegistrationFailureEndsRun(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	s := launch(t, testConfig(url, func(c *Config) { c.Core.Queue = "a>b" }))
	select {
	case err := <-s.exited:
		if err == nil || !strings.Contains(err.Error(), "micro") {
			t.Errorf("Run = %v, want the micro registration's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still going though the micro registration failed")
	}
	select {
	case <-s.Running():
		t.Error("Running closed, though the service never registered")
	default:
	}
}

// During the shutdown grace, while a batch is held at a gate, /readyz
// answers 503 "shutting down" and /healthz 200; once the batch is done,
// Run returns nil (nothing cut short) and the listener is closed.
func TestReadyzDuringShutdownGrace(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	results := loadtest.Collect(t, nc)
	s := start(t, url, func(c *Config) {
		c.Ops.MetricsAddr, c.ShutdownGrace = "127.0.0.1:0", time.Minute
		c.Fetch.Timeout, c.Fetch.MaxTimeout = time.Minute, time.Minute
	})
	ops := opsAddr(s)
	data, _ := json.Marshal(wire.Batch{ID: "held", URLs: wire.URLs(target.URL("/gate/held"))})
	if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
	loadtest.WaitFor(t, 10*time.Second, "the batch at the gate", func() bool { return target.InFlight() == 1 })
	s.stop()
	loadtest.WaitFor(t, 10*time.Second, "/readyz to say shutting down", func() bool {
		code, body := get(t, ops+"/readyz")
		return code == http.StatusServiceUnavailable && body == "not ready: shutting down\n"
	})
	if code, _ := get(t, ops+"/healthz"); code != 200 {
		t.Errorf("/healthz during the grace = %d, want 200", code)
	}
	select {
	case err := <-s.exited:
		t.Fatalf("Run returned (%v) while a batch was held", err)
	default:
	}
	target.Open("held")
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("Run = %v, want nil: the batch finished within the grace", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return once the batch was done")
	}
	if kind, n := results.Kind(loadtest.Key{Batch: "held", Index: 0}); n != 1 || kind != "" {
		loadtest.WaitFor(t, 5*time.Second, "the held batch's result", func() bool {
			kind, n = results.Kind(loadtest.Key{Batch: "held", Index: 0})
			return n == 1 && kind == ""
		})
	}
	if _, err := http.Get(ops + "/healthz"); err == nil {
		t.Error("the ops listener still answers after Run returned")
	}
}

// CutShort during a long grace ends it at once: the URL held in flight is
// published as canceled, and Run returns an error saying it was cut short.
func TestCutShortEndsTheGraceAtOnce(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	results := loadtest.Collect(t, nc)
	s := start(t, url, func(c *Config) {
		c.ShutdownGrace, c.Fetch.Timeout, c.Fetch.MaxTimeout, c.Fetch.MaxBatchTime = time.Hour, time.Hour, time.Hour, time.Hour
	})
	data, _ := json.Marshal(wire.Batch{ID: "held", URLs: wire.URLs(target.URL("/hang"))})
	if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
	loadtest.WaitFor(t, 10*time.Second, "the batch in flight", func() bool { return target.InFlight() == 1 })
	s.stop()
	time.Sleep(100 * time.Millisecond) // in the grace now
	s.CutShort()
	select {
	case err := <-s.exited:
		if err == nil || !strings.Contains(err.Error(), "shutdown cut short: unfinished URLs were published as canceled") {
			t.Errorf("Run = %v, want it cut short", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still waits for its hour of grace")
	}
	loadtest.WaitFor(t, 5*time.Second, "the held URL's canceled result", func() bool {
		kind, n := results.Kind(loadtest.Key{Batch: "held", Index: 0})
		return n == 1 && kind == wire.ErrCanceled
	})
}
