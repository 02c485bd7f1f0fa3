package service

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// The first "done when": with --jetstream --validators VALIDATORS
// --changes fetch.changes (and a results stream, which keeps changes
// too), the same four URLs polled twice (one with an ETag, one with
// Last-Modified, one whose body has not changed, one whose body changes
// every time). The first poll says changed for all four; the second says
// changed false for the first three (two 304s, not errors) and true for
// the last; fetch.changes gets exactly those five, and the results
// stream keeps them once each.
func TestPollingTwiceSaysWhatChanged(t *testing.T) {
	ns, nc := natstest.Start(t)
	p := fetchtest.NewPolled(t)
	var (
		mu      sync.Mutex
		changes []wire.Result
	)
	sub, err := nc.Subscribe("fetch.changes", func(m *nats.Msg) {
		var r wire.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Errorf("change %q: %v", m.Data, err)
		}
		mu.Lock()
		changes = append(changes, r)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	svc := start(t, ns.ClientURL(), func(c *Config) {
		c.JetStream.Enabled = true
		c.Storage.Validators = "VALIDATORS"
		c.Subjects.Changes = "fetch.changes"
		c.Storage.ResultsStream = "RESULTS"
	})
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{p.URL("/etag"), p.URL("/last-modified"), p.URL("/static"), p.URL("/changing")}
	poll := func() []wire.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		g, err := c.Gather(ctx, urls)
		if err != nil {
			t.Fatal(err)
		}
		return g.Results
	}
	for i, r := range poll() {
		if r.Error != "" || r.Status != 200 || r.Changed == nil || !*r.Changed {
			t.Errorf("first poll, %s: %+v; want 200, changed true", urls[i], r)
		}
	}
	for i, r := range poll() {
		wantChanged := i == 3
		wantNotModified := i < 2
		if r.Error != "" || r.Changed == nil || *r.Changed != wantChanged || r.NotModified != wantNotModified {
			t.Errorf("second poll, %s: %+v; want changed %v, not_modified %v, no error", urls[i], r, wantChanged, wantNotModified)
		}
		if wantNotModified && r.Status != 304 {
			t.Errorf("second poll, %s: status %d; want 304", urls[i], r.Status)
		}
	}
	_ = nc.Flush()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(changes)
		mu.Unlock()
		if n >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a sixth, were there one, would come meanwhile
	mu.Lock()
	got := append([]wire.Result(nil), changes...)
	mu.Unlock()
	if len(got) != 5 {
		t.Fatalf("fetch.changes got %d results; want 5: %+v", len(got), got)
	}
	for i, r := range got {
		wantURL := urls[min(i, 3)]
		if r.URL != wantURL || r.Changed == nil || !*r.Changed {
			t.Errorf("change %d: %s changed %v; want %s, changed", i, r.URL, r.Changed, wantURL)
		}
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("fetch.changes"))
	if err != nil || info.State.Subjects["fetch.changes"] != 5 {
		t.Errorf("results stream holds %v changes (%v); want 5", info.State.Subjects, err)
	}
	kv, err := js.KeyValue(ctx, "VALIDATORS")
	if err != nil {
		t.Fatal(err)
	}
	if status, err := kv.Status(ctx); err != nil || status.TTL() != 7*24*time.Hour {
		t.Errorf("validators bucket: %+v, %v; want the default TTL of 7 days", status, err)
	}
	stats := svc.metrics.microStats().(microStats)
	if stats.NotModified != 2 || stats.Changed != 5 || stats.Unchanged != 3 {
		t.Errorf("micro stats %+v; want 2 not modified, 5 changed, 3 unchanged", stats)
	}
}

// --changes without --validators, or on a subject the input takes, is
// refused before anything starts.
func TestChangesNeedValidatorsAndNoLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no validators", func(c *Config) { c.Subjects.Changes = "fetch.changes" }, "Subjects.Changes"},
		{"into the input", func(c *Config) {
			c.Storage.Validators, c.Subjects.In, c.Subjects.Changes = "V", "fetch.>", "fetch.changes"
		}, "Subjects.In"},
		{"bad bucket", func(c *Config) { c.Storage.Validators = "a.b" }, "Storage.Validators"},
		{"short ttl", func(c *Config) { c.Storage.Validators, c.Storage.ValidatorsTTL = "V", time.Millisecond }, "Storage.ValidatorsTTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(testConfig("nats://127.0.0.1:1", tc.edit), nil)
			var ce *ConfigError
			if err == nil || !errors.As(err, &ce) || ce.Field != tc.want {
				t.Errorf("New: %v; want a ConfigError on %s", err, tc.want)
			}
		})
	}
}
