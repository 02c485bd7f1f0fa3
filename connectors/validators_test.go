package connectors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
)

// The bucket is created with its TTL and value cap; what Store queues,
// Run writes, and Lookup reads back; a key with nothing is not found,
// without an error.
func TestValidatorBucketStoresAndLooksUp(t *testing.T) {
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := connectors.NewValidatorBucket(ctx, nc, connectors.ValidatorsConfig{Bucket: "VAL", TTL: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = b.Run(runCtx) }()
	if _, found, err := b.Lookup(ctx, "k1"); found || err != nil {
		t.Fatalf("empty bucket: found %v, %v", found, err)
	}
	want := httpfetch.Validators{ETag: `"v1"`, LastModified: "Sun, 01 Nov 2026 12:00:00 GMT", SHA256: "ab", At: time.Now().UTC().Truncate(time.Second)}
	b.Store("k1", want)
	var got httpfetch.Validators
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v, found, err := b.Lookup(ctx, "k1")
		if found && err == nil {
			got = v
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never stored: %v", err)
		}
	}
	if !got.At.Equal(want.At) || got.ETag != want.ETag || got.LastModified != want.LastModified || got.SHA256 != want.SHA256 {
		t.Errorf("read back %+v; want %+v", got, want)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "VAL")
	if err != nil {
		t.Fatal(err)
	}
	status, err := kv.Status(ctx)
	if err != nil || status.TTL() != time.Hour || status.History() != 1 {
		t.Errorf("bucket status %+v, %v; want TTL 1h, history 1", status, err)
	}
	// Attack: whoever may write the bucket puts garbage or a huge value
	// there. Garbage is read as nothing kept; a huge value is refused by
	// the bucket itself.
	if _, err := kv.Put(ctx, "k2", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b.Lookup(ctx, "k2"); found || err != nil {
		t.Errorf("garbage value: found %v, %v; want not found", found, err)
	}
	if _, err := kv.Put(ctx, "k3", []byte(strings.Repeat("x", 64<<10))); err == nil {
		t.Error("the bucket took a 64 KiB value; want it refused over its value cap")
	}
}

// A bucket that cannot answer (its server gone) fails a lookup by its
// context's end, not later, and counts it; Store never blocks, and drops
// what the queue cannot hold.
func TestValidatorBucketOutage(t *testing.T) {
	ns, nc := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := connectors.NewValidatorBucket(ctx, nc, connectors.ValidatorsConfig{Bucket: "VAL"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	lookupCtx, lookupCancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer lookupCancel()
	start := time.Now()
	if _, found, err := b.Lookup(lookupCtx, "k"); found || err == nil {
		t.Errorf("lookup with the server gone: found %v, err %v; want an error", found, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("lookup bounded at 100ms took %s", took)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5000 { // more than the queue holds, nothing writing
			b.Store("k", httpfetch.Validators{SHA256: "ab"})
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Store blocked")
	}
	if s := b.Stats(); s.LookupFailures != 1 || s.StoreDrops == 0 {
		t.Errorf("stats %+v; want 1 lookup failure and drops", s)
	}
	if err := (connectors.ValidatorsConfig{Bucket: "a b"}).Validate(); !errors.Is(err, connectors.ErrConfig) {
		t.Errorf("bad bucket name: %v", err)
	}
}

// Attack: publishers poll ever new URLs (or a server answers with ever
// new validators), to grow the bucket without end. A created bucket is
// bounded by MaxBytes and, being a cache, drops its oldest values when
// full instead of refusing new ones.
func TestValidatorBucketIsABoundedCache(t *testing.T) {
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := connectors.NewValidatorBucket(ctx, nc, connectors.ValidatorsConfig{Bucket: "SMALL", MaxBytes: connectors.MinValidatorsMaxBytes}, nil); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, "KV_SMALL")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := stream.CachedInfo().Config; cfg.MaxBytes != connectors.MinValidatorsMaxBytes || cfg.Discard != jetstream.DiscardOld {
		t.Fatalf("bucket stream max bytes %d, discard %s; want %d, discard old", cfg.MaxBytes, cfg.Discard, connectors.MinValidatorsMaxBytes)
	}
	kv, err := js.KeyValue(ctx, "SMALL")
	if err != nil {
		t.Fatal(err)
	}
	value := []byte(strings.Repeat("x", 7<<10))
	for i := range 200 { // 1.4MB of values into a 1MiB bucket
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), value); err != nil {
			t.Fatalf("put %d refused: %v; want the oldest dropped instead", i, err)
		}
	}
	if _, err := kv.Get(ctx, "k0"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the oldest key: %v; want it dropped", err)
	}
	if _, err := kv.Get(ctx, "k199"); err != nil {
		t.Errorf("the newest key: %v", err)
	}
	if _, err := connectors.NewValidatorBucket(ctx, nc, connectors.ValidatorsConfig{Bucket: "TINY", MaxBytes: 1000}, nil); !errors.Is(err, connectors.ErrConfig) {
		t.Errorf("MaxBytes 1000: %v; want ErrConfig", err)
	}
}

// On a graceful stop what is still queued is written (for up to 2s), not
// lost: Run with an ended context writes the queue, then returns.
func TestValidatorBucketDrainsOnStop(t *testing.T) {
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := connectors.NewValidatorBucket(ctx, nc, connectors.ValidatorsConfig{Bucket: "DRAIN"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b.Store(fmt.Sprintf("k%d", i), httpfetch.Validators{ETag: `"v"`, At: time.Now().UTC()})
	}
	stopped, stop := context.WithCancel(ctx)
	stop()
	if err := b.Run(stopped); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, found, err := b.Lookup(ctx, fmt.Sprintf("k%d", i)); !found || err != nil {
			t.Errorf("k%d after the stop: found %v, %v; want written", i, found, err)
		}
	}
}
