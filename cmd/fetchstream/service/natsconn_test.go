package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Reconnect pauses double up to a cap, with jitter in the upper half.
func TestReconnectDelayBacksOffWithJitter(t *testing.T) {
	cases := []struct {
		attempts int
		lo, hi   time.Duration
	}{
		{0, 125 * time.Millisecond, 250 * time.Millisecond},
		{1, 125 * time.Millisecond, 250 * time.Millisecond},
		{2, 250 * time.Millisecond, 500 * time.Millisecond},
		{4, time.Second, 2 * time.Second},
		{6, 4 * time.Second, 8 * time.Second},
		{1000, 4 * time.Second, 8 * time.Second},
	}
	for _, c := range cases {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := reconnectDelay(c.attempts)
			if d < c.lo || d > c.hi {
				t.Errorf("attempt %d: delay %s outside [%s, %s]", c.attempts, d, c.lo, c.hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct delays in 200: no jitter", c.attempts, len(seen))
		}
	}
}

// A failed connect names the server without its password.
func TestConnectErrorHidesPassword(t *testing.T) {
	cfg := testConfig("nats://alice:s3cret@127.0.0.1:1,nats://127.0.0.1:2", nil)
	svc, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second) // no server answers: it would wait for one
	defer cancel()
	err = svc.Run(ctx)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "alice") {
		t.Errorf("got %v, want an error naming the servers without the password", err)
	}
}

// The embedded server's hints send a batch on the configured input
// subject: fetchstream publish --wait in both modes, naming only the
// flags that differ from publish's defaults, and the nats CLI's form the
// mode needs (a request in core mode; in JetStream mode, where the stream
// answers a request, a subscription to the outputs and a publish).
func TestTryHintsNameTheConfiguredSubjects(t *testing.T) {
	subjects := SubjectsConfig{In: "jobs.*.urls", Out: "jobs.results", Batches: "jobs.batches"}
	publish, natsCLI := tryHints("nats://h:1", &subjects, false)
	if want := `fetchstream publish --wait --nats-url nats://h:1 --in jobs.example.urls --batches-subject jobs.batches https://example.com`; publish != want {
		t.Errorf("publish hint %q, want %q", publish, want)
	}
	if want := `nats -s nats://h:1 request jobs.example.urls '["https://example.com"]'`; natsCLI != want {
		t.Errorf("core nats hint %q, want %q", natsCLI, want)
	}
	jsPublish, natsCLI := tryHints("nats://h:1", &subjects, true)
	if jsPublish != publish {
		t.Errorf("JetStream publish hint %q, want %q as in core mode", jsPublish, publish)
	}
	if want := `nats -s nats://h:1 sub jobs.results jobs.batches & nats -s nats://h:1 pub jobs.example.urls '["https://example.com"]'`; natsCLI != want {
		t.Errorf("JetStream nats hint %q, want %q", natsCLI, want)
	}
	defaults := Defaults().Subjects
	for _, jetStream := range []bool{false, true} {
		if publish, _ := tryHints(nats.DefaultURL, &defaults, jetStream); publish != "fetchstream publish --wait https://example.com" {
			t.Errorf("with the defaults (jetstream %v): publish hint %q", jetStream, publish)
		}
	}
}
