package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
		c.Storage.ValidatorsTimeout = 10 * time.Second // a loaded CI machine's bucket may be slow; the default's bound is TestValidatorsLookupTimeout's
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
	waitForKeys(t, nc, "VALIDATORS", len(urls)) // the writes are queued: the second poll must find them
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

// waitForKeys waits up to 15s until the key-value bucket holds n keys.
func waitForKeys(t *testing.T, nc *nats.Conn, bucket string, n int) {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	for {
		keys, err := kv.ListKeys(ctx)
		got := 0
		if err == nil {
			for range keys.Keys() {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the bucket %s holds %d keys after 15s; want %d", bucket, got, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// --changes without --validators, on --out or --batches-subject, or on a
// subject the input takes, is
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
		{"changes on out", func(c *Config) { c.Storage.Validators, c.Subjects.Changes = "V", c.Subjects.Out }, "Subjects.Changes"},
		{"changes on batches", func(c *Config) { c.Storage.Validators, c.Subjects.Changes = "V", c.Subjects.Batches }, "Subjects.Changes"},
		{"short ttl", func(c *Config) { c.Storage.Validators, c.Storage.ValidatorsTTL = "V", time.Millisecond }, "Storage.ValidatorsTTL"},
		{"long lookup", func(c *Config) { c.Storage.Validators, c.Storage.ValidatorsTimeout = "V", 11*time.Second }, "Storage.ValidatorsTimeout"},
		{"small bucket", func(c *Config) { c.Storage.Validators, c.Storage.ValidatorsMaxBytes = "V", 1000 }, "Storage.ValidatorsMaxBytes"},
		{"negative lookup", func(c *Config) { c.Storage.Validators, c.Storage.ValidatorsTimeout = "V", -time.Second }, "Storage.ValidatorsTimeout"},
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

// The issue's second "done when", on the embedded server as `fetchstream
// run --jetstream` runs it: a schedule every 1s makes at least 4 requests
// in 6s; it goes on after the service (and its embedded server) is cut
// short and started again on the same store; Schedules lists it;
// Unschedule stops it. The service counts the batches schedules ran.
func TestScheduleRunsAcrossRestartUntilRemoved(t *testing.T) {
	dir, port := t.TempDir(), natstest.UnusedFixedPort(t)
	embed := func(c *Config) {
		c.NATS.Listen, c.NATS.DataDir, c.JetStream.Enabled = fmt.Sprintf("127.0.0.1:%d", port), dir, true
	}
	p := fetchtest.NewPolled(t)
	first := start(t, "", embed)
	nc := natstest.Connect(t, first.NATSURL())
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Schedule(ctx, "poll1", wire.EverySpec(time.Second), wire.Batch{URLs: []wire.Request{{URL: p.URL("/static")}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	if n := len(p.Requests("/static")); n < 4 {
		t.Fatalf("%d requests in 6s from a schedule every 1s; want at least 4", n)
	}
	if s := first.metrics.microStats().(microStats); s.Scheduled < 4 {
		t.Errorf("micro stats count %d scheduled batches; want at least 4", s.Scheduled)
	}
	if err := c.Schedule(ctx, "poll1", "@every 5s", wire.Batch{URLs: []wire.Request{{URL: p.URL("/static")}}}); !errors.Is(err, client.ErrScheduleExists) {
		t.Errorf("a second poll1: %v; want ErrScheduleExists", err)
	}
	nc.Close()
	first.CutShort()
	first.stop()
	select {
	case <-first.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not stop")
	}
	before := len(p.Requests("/static"))
	second := start(t, "", embed)
	time.Sleep(4 * time.Second)
	if n := len(p.Requests("/static")) - before; n < 2 {
		t.Fatalf("%d requests in 4s after the restart; want the schedule to go on", n)
	}
	nc = natstest.Connect(t, second.NATSURL())
	if c, err = client.New(nc); err != nil {
		t.Fatal(err)
	}
	list, err := c.Schedules(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "poll1" || list[0].Spec != "@every 1s" || list[0].Target != wire.DefaultInSubject ||
		len(list[0].Batch.URLs) != 1 || list[0].Next.IsZero() {
		t.Fatalf("Schedules: %+v, %v; want poll1 every 1s to %s with one URL and a next run", list, err, wire.DefaultInSubject)
	}
	if err := c.Unschedule(ctx, "poll1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // a run already published may still be fetched
	stopped := len(p.Requests("/static"))
	time.Sleep(3 * time.Second)
	if n := len(p.Requests("/static")) - stopped; n != 0 {
		t.Errorf("%d requests in 3s after Unschedule; want none", n)
	}
	if err := c.Unschedule(ctx, "poll1"); !errors.Is(err, client.ErrNoSchedule) {
		t.Errorf("Unschedule twice: %v; want ErrNoSchedule", err)
	}
	if list, err := c.Schedules(ctx); err != nil || len(list) != 0 {
		t.Errorf("Schedules after rm: %+v, %v; want none", list, err)
	}
}

// Attack: a schedule that would flood the input (every 1ns), a name that
// would make another subject, and a batch with a fixed id (whose results
// would all share Nats-Msg-Ids and be dropped as duplicates) are refused
// before anything is published. In core mode, Schedule says why it
// cannot and what to run instead.
func TestScheduleRefusals(t *testing.T) {
	ns, nc := natstest.Start(t)
	start(t, ns.ClientURL(), func(c *Config) { c.JetStream.Enabled = true })
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	one := wire.Batch{URLs: []wire.Request{{URL: "http://127.0.0.1:1/"}}}
	for _, tc := range []struct{ name, spec string }{
		{"flood", "@every 1ns"}, {"flood", "@every 999ms"}, {"bad", "* * * * *"}, {"bad", "@at 2026-12-07T00:00:00Z"},
		{"a.b", "@every 1m"}, {"a>", "@every 1m"}, {"", "@every 1m"},
	} {
		if err := c.Schedule(ctx, tc.name, tc.spec, one); !errors.Is(err, wire.ErrBadSchedule) {
			t.Errorf("Schedule(%q, %q): %v; want ErrBadSchedule", tc.name, tc.spec, err)
		}
	}
	withID := one
	withID.ID = "fixed"
	if err := c.Schedule(ctx, "fixed", "@every 1m", withID); !errors.Is(err, client.ErrInvalidBatch) {
		t.Errorf("a batch with an id: %v; want ErrInvalidBatch", err)
	}
	if list, err := c.Schedules(ctx); err != nil || len(list) != 0 {
		t.Errorf("Schedules: %+v, %v; want none added", list, err)
	}
	core, err := client.New(nc, client.WithSubject("core.urls"))
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Schedule(ctx, "p", "@every 1m", one); !errors.Is(err, client.ErrSchedulesUnavailable) ||
		!strings.Contains(err.Error(), "--jetstream") || !strings.Contains(err.Error(), "fetchstream publish") {
		t.Errorf("core mode: %v; want ErrSchedulesUnavailable naming --jetstream and fetchstream publish", err)
	}
}

// A stream made before schedules (or by hand) is left as it is by the
// service. The first Schedule creates the schedules stream beside it and
// makes it source the runs into its input subject, without allowing it
// schedules or roll-ups; the schedule runs. A second input subject for
// the same stream's schedules is refused.
func TestScheduleSourcesIntoAnOlderStream(t *testing.T) {
	ns, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OLD", Subjects: []string{"old.>"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	p := fetchtest.NewPolled(t)
	start(t, ns.ClientURL(), func(c *Config) { c.JetStream.Enabled, c.JetStream.Stream, c.Subjects.In = true, "OLD", "old.urls" })
	c, _ := client.New(nc, client.WithSubject("old.urls"))
	if err := c.Schedule(ctx, "old", "@every 1s", wire.Batch{URLs: []wire.Request{{URL: p.URL("/static")}}}); err != nil {
		t.Fatal(err)
	}
	stream, _ := js.Stream(ctx, "OLD")
	if cfg := stream.CachedInfo().Config; cfg.AllowMsgSchedules || cfg.AllowRollup || !cfg.AllowMsgTTL || len(cfg.Subjects) != 1 || len(cfg.Sources) != 1 ||
		cfg.Sources[0].Name != wire.SchedulesStream("OLD") {
		t.Errorf("after Schedule the input stream is %+v; want it to source the runs only", cfg)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(p.Requests("/static")) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(p.Requests("/static")); n < 2 {
		t.Errorf("%d runs of the schedule on the older stream; want 2 or more", n)
	}
	other, _ := client.New(nc, client.WithSubject("old.other"))
	err := other.Schedule(ctx, "o", "@every 1m", wire.Batch{URLs: []wire.Request{{URL: p.URL("/static")}}})
	if !errors.Is(err, client.ErrSchedulesUnavailable) || !strings.Contains(err.Error(), "--in old.urls") {
		t.Errorf("a schedule into another input subject of the stream: %v; want ErrSchedulesUnavailable naming --in old.urls", err)
	}
}

// Attack: a publisher of batches (one who may publish on the input
// subject) tries to wipe the batches pending in the input stream with
// Nats-Rollup: all, to delete a schedule with Nats-Schedule-Next: purge,
// and to add a schedule of its own in the input stream. Each publish is
// refused, and the input stream and the schedule lose nothing: the input
// stream allows no roll-ups and no schedules, which live in their own
// stream.
func TestInputStreamRefusesScheduleHeaders(t *testing.T) {
	ns, nc := natstest.Start(t)
	svc := start(t, ns.ClientURL(), func(c *Config) { c.JetStream.Enabled = true })
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Schedule(ctx, "daily", "@daily", wire.Batch{URLs: []wire.Request{{URL: "http://127.0.0.1:1/"}}}); err != nil {
		t.Fatal(err)
	}
	svc.stop() // the batches below stay pending
	select {
	case <-svc.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not stop")
	}
	in := wire.DefaultInSubject
	stream, err := js.StreamNameBySubject(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := js.Publish(ctx, in, fmt.Appendf(nil, `{"id":"pending-%d","urls":["http://127.0.0.1:1/"]}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	schedule := wire.ScheduleSubject(stream, "daily")
	for _, h := range []nats.Header{
		{"Nats-Rollup": {"all"}},
		{"Nats-Rollup": {"sub"}},
		{wire.HeaderScheduleNext: {"purge"}, wire.HeaderScheduler: {schedule}},
		{wire.HeaderScheduleNext: {"purge"}, wire.HeaderScheduler: {in}},
		{wire.HeaderSchedule: {"@every 1s"}, wire.HeaderScheduleTarget: {in}},
	} {
		msg := &nats.Msg{Subject: in, Header: h, Data: []byte(`{"urls":["http://127.0.0.1:1/"]}`)}
		if _, err := js.PublishMsg(ctx, msg); err == nil {
			t.Errorf("a publish on the input subject with %v was stored; want it refused", h)
		}
	}
	info, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("the input stream holds %d batches after the attack; want the 2 pending", n)
	}
	if list, err := c.Schedules(ctx); err != nil || len(list) != 1 || list[0].Name != "daily" {
		t.Errorf("Schedules after the attack: %+v, %v; want daily still there", list, err)
	}
}

// Runs missed while no service takes them expire instead of piling up:
// each carries the schedule's interval as its TTL (Nats-Schedule-TTL),
// which the input stream honours. With the service down for 6s, a
// schedule every 1s leaves at most two runs waiting, not six.
func TestScheduleRunsExpireWhileServiceIsDown(t *testing.T) {
	ns, nc := natstest.Start(t)
	p := fetchtest.NewPolled(t)
	svc := start(t, ns.ClientURL(), func(c *Config) { c.JetStream.Enabled = true })
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Schedule(ctx, "often", wire.EverySpec(time.Second), wire.Batch{URLs: []wire.Request{{URL: p.URL("/static")}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(p.Requests("/static")) < 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(p.Requests("/static")) < 1 {
		t.Fatal("no run reached the target in 15s")
	}
	svc.stop()
	select {
	case <-svc.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not stop")
	}
	time.Sleep(6 * time.Second)
	js, _ := jetstream.New(nc)
	name, err := js.StreamNameBySubject(ctx, wire.DefaultInSubject)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Msgs; n > 2 {
		t.Errorf("the input stream holds %d runs after 6s without a service; want at most 2 (the rest expired)", n)
	}
}
