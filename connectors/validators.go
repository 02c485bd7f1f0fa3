package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/httpfetch"
)

// DefaultValidatorsTTL is ValidatorsConfig.TTL when it is 0: a URL polled
// less often than weekly is fetched in full each time.
const DefaultValidatorsTTL = 7 * 24 * time.Hour

// DefaultValidatorsMaxBytes is ValidatorsConfig.MaxBytes when it is 0.
const DefaultValidatorsMaxBytes = 1 << 30

// MinValidatorsMaxBytes is the least ValidatorsConfig.MaxBytes.
const MinValidatorsMaxBytes = 1 << 20

// maxValidatorsValue bounds a value in the bucket (the bucket refuses
// larger ones, and Lookup ignores them): two validators of at most
// httpfetch.MaxValidatorLen bytes, a hash and a time, JSON-escaped.
const maxValidatorsValue = 8 << 10

// validatorsQueue is how many writes ValidatorBucket holds while the
// bucket is slow: more are dropped (and counted), never waited on.
const validatorsQueue = 4096

// validatorsLogEvery is how often, at most, a failing bucket is logged.
const validatorsLogEvery = time.Minute

// ValidatorsConfig names the key-value bucket that keeps each request's
// validators, and the settings it is created with if absent.
type ValidatorsConfig struct {
	Bucket   string
	TTL      time.Duration // how long a request's validators are kept; 0 is DefaultValidatorsTTL
	Replicas int           // 0 means 1
	// LookupTimeout bounds each lookup, past which the GET goes out
	// unconditional (httpfetch.Config.ValidatorTimeout); 0 is
	// httpfetch.DefaultValidatorTimeout, at most MaxValidatorsLookupTimeout.
	LookupTimeout time.Duration
	// MaxBytes bounds a created bucket's size (0 is
	// DefaultValidatorsMaxBytes, at least MinValidatorsMaxBytes): it is a
	// cache, so when full the oldest values go first (discard old).
	MaxBytes int64
}

// MaxValidatorsLookupTimeout bounds ValidatorsConfig.LookupTimeout: a
// lookup holds its URL's slot, so a lost bucket may hold each GET no
// longer than this.
const MaxValidatorsLookupTimeout = 10 * time.Second

// Validate reports the first field of c that NewValidatorBucket would
// refuse, as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c ValidatorsConfig) Validate() error {
	switch {
	case !validBucketName(c.Bucket):
		return configError("Bucket", "%q: a bucket name is not empty and has only letters, digits, '-' and '_'", c.Bucket)
	case c.TTL < 0:
		return configError("TTL", "must not be negative (0 means the default, %s), got %s", DefaultValidatorsTTL, c.TTL)
	case c.TTL > 0 && c.TTL < time.Second:
		return configError("TTL", "must be at least 1s, got %s", c.TTL)
	case c.LookupTimeout < 0 || c.LookupTimeout > MaxValidatorsLookupTimeout:
		return configError("LookupTimeout", "must be from 0 (the default, %s) to %s, got %s", httpfetch.DefaultValidatorTimeout, MaxValidatorsLookupTimeout, c.LookupTimeout)
	case c.LookupTimeout > 0 && c.LookupTimeout < time.Millisecond:
		return configError("LookupTimeout", "must be at least 1ms, got %s", c.LookupTimeout)
	case c.MaxBytes < 0 || (c.MaxBytes > 0 && c.MaxBytes < MinValidatorsMaxBytes):
		return configError("MaxBytes", "must be 0 (the default, 1GiB) or at least 1MiB, got %d", c.MaxBytes)
	}
	return validReplicas(c.Replicas)
}

// ValidatorBucket keeps httpfetch.Validators in a JetStream key-value
// bucket, one key per request (httpfetch.ValidatorKey), as JSON: an
// httpfetch.ValidatorStore shared by every replica. Safe for concurrent
// use.
//
// Lookup is a direct get, bounded by its caller's context. Store only
// queues the write (at most validatorsQueue of them): Run writes them
// one at a time, and a write that finds the queue full is dropped and
// counted, so a slow or lost bucket never holds a fetch. Failures are
// counted, and logged at most once a minute, not once per URL.
type ValidatorBucket struct {
	bucket string
	kv     jetstream.KeyValue
	log    *slog.Logger
	queue  chan validatorsWrite

	lookupFailures, storeFailures, storeDrops atomic.Uint64
	logMu                                     sync.Mutex
	lastLog                                   time.Time
}

type validatorsWrite struct {
	key   string
	value []byte
}

// ValidatorBucketStats counts what a ValidatorBucket could not do since it
// was made: lookups that failed (not those that found nothing), writes
// that failed, and writes dropped because the queue was full.
type ValidatorBucketStats struct {
	LookupFailures, StoreFailures, StoreDrops uint64
}

// NewValidatorBucket finds the bucket or creates it (file storage, TTL
// as each key's age, Replicas, values of at most 8 KiB, one revision per
// key). An existing bucket is used as it is, with a warning where its
// TTL or replicas differ. Each request is tried again while JetStream
// cannot answer it, until ctx ends. Call Run to write what Store queues.
func NewValidatorBucket(ctx context.Context, nc *nats.Conn, cfg ValidatorsConfig, log *slog.Logger) (*ValidatorBucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultValidatorsTTL
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultValidatorsMaxBytes
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := setupStep(ctx, nc, log, "the validators bucket "+cfg.Bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return ensureValidators(ctx, js, cfg, log)
	})
	if err != nil {
		return nil, err
	}
	if status, err := kv.Status(ctx); err == nil {
		if status.TTL() != cfg.TTL {
			log.Warn("the existing validators bucket has another TTL than configured; using it unchanged", "bucket", cfg.Bucket,
				"ttl", status.TTL(), "configured", cfg.TTL)
		}
		if info, ok := status.(*jetstream.KeyValueBucketStatus); ok {
			warnReplicas(log, "KV_"+cfg.Bucket, info.StreamInfo().Config.Replicas, cfg.Replicas)
		}
	}
	return &ValidatorBucket{bucket: cfg.Bucket, kv: kv, log: log, queue: make(chan validatorsWrite, validatorsQueue)}, nil
}

// ensureValidators finds the bucket, or creates it: one try.
func ensureValidators(ctx context.Context, js jetstream.JetStream, cfg ValidatorsConfig, log *slog.Logger) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:       cfg.Bucket,
			Description:  "fetchstream: ETag, Last-Modified and body hash per request, for conditional polling",
			TTL:          cfg.TTL,
			History:      1,
			MaxValueSize: maxValidatorsValue,
			MaxBytes:     cfg.MaxBytes,
			Storage:      jetstream.FileStorage,
			Replicas:     max(cfg.Replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		} else if err == nil {
			err = discardOldest(ctx, js, cfg.Bucket)
			log.Info("created the validators bucket", "bucket", cfg.Bucket, "ttl", cfg.TTL, "replicas", max(cfg.Replicas, 1),
				"max_bytes", cfg.MaxBytes)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("validators bucket %q: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// discardOldest makes the bucket's stream drop its oldest values when it
// is full (a key-value bucket is made to refuse new ones): the bucket is
// a cache, and a refused write would leave a URL unconditional for good.
func discardOldest(ctx context.Context, js jetstream.JetStream, bucket string) error {
	stream, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return err
	}
	cfg := stream.CachedInfo().Config
	if cfg.Discard == jetstream.DiscardOld {
		return nil
	}
	cfg.Discard = jetstream.DiscardOld
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// Bucket is the bucket's name.
func (b *ValidatorBucket) Bucket() string { return b.bucket }

// Lookup gets key's validators. A key with nothing (or a value that is
// not validators: too large, not JSON) is not found, without an error;
// an error is a bucket that did not answer within ctx.
func (b *ValidatorBucket) Lookup(ctx context.Context, key string) (httpfetch.Validators, bool, error) {
	var v httpfetch.Validators
	entry, err := b.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		return v, false, nil
	case err != nil:
		b.lookupFailures.Add(1)
		b.logFailure("could not read validators; fetching unconditionally", err)
		return v, false, err
	}
	if len(entry.Value()) > maxValidatorsValue || json.Unmarshal(entry.Value(), &v) != nil {
		return httpfetch.Validators{}, false, nil
	}
	return v, true, nil
}

// Store queues v to be written under key, or drops it when the queue is
// full (counted). It never blocks.
func (b *ValidatorBucket) Store(key string, v httpfetch.Validators) {
	value, err := json.Marshal(v)
	if err != nil {
		return // a struct of strings and a time: cannot fail
	}
	select {
	case b.queue <- validatorsWrite{key, value}:
	default:
		b.storeDrops.Add(1)
		b.logFailure("validators queue full; dropping writes", nil)
	}
}

// validatorsDrain is how long Run goes on writing what is queued once
// its context ends.
const validatorsDrain = 2 * time.Second

// Run writes what Store queues, one write at a time, each within
// writeTimeout, until ctx ends; then it writes what is still queued for
// up to validatorsDrain more and returns nil, leaving the rest unwritten
// (those URLs are fetched in full next time).
func (b *ValidatorBucket) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			b.drain(nil, validatorsDrain)
			return nil
		case w := <-b.queue:
			if ctx.Err() != nil { // both were ready: w is drained too
				b.drain(&w, validatorsDrain)
				return nil
			}
			b.write(ctx, w)
		}
	}
}

// drain writes first (if any), then what is queued, until the queue is
// empty or within ends.
func (b *ValidatorBucket) drain(first *validatorsWrite, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if first != nil {
		b.write(ctx, *first)
	}
	for ctx.Err() == nil {
		select {
		case w := <-b.queue:
			b.write(ctx, w)
		default:
			return
		}
	}
}

// write puts w within writeTimeout (and ctx), counting a failure that is
// not ctx's end.
func (b *ValidatorBucket) write(ctx context.Context, w validatorsWrite) {
	const writeTimeout = 5 * time.Second
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	_, err := b.kv.Put(wctx, w.key, w.value)
	cancel()
	if err != nil && ctx.Err() == nil {
		b.storeFailures.Add(1)
		b.logFailure("could not write validators", err)
	}
}

// Stats returns the bucket's failure counts.
func (b *ValidatorBucket) Stats() ValidatorBucketStats {
	return ValidatorBucketStats{LookupFailures: b.lookupFailures.Load(), StoreFailures: b.storeFailures.Load(),
		StoreDrops: b.storeDrops.Load()}
}

// logFailure logs msg at most once per validatorsLogEvery, with the
// counts so far.
func (b *ValidatorBucket) logFailure(msg string, err error) {
	b.logMu.Lock()
	if time.Since(b.lastLog) < validatorsLogEvery {
		b.logMu.Unlock()
		return
	}
	b.lastLog = time.Now()
	b.logMu.Unlock()
	s := b.Stats()
	b.log.Warn(msg, "bucket", b.bucket, "err", err, "lookup_failures", s.LookupFailures,
		"store_failures", s.StoreFailures, "store_drops", s.StoreDrops, "logged_at_most_every", validatorsLogEvery)
}
