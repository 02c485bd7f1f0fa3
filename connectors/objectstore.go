package connectors

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/fetchstream/fetchstream/wire"
)

// ObjectStoreConfig names the Object Store bucket large bodies go to, and
// the settings it is created with if absent.
type ObjectStoreConfig struct {
	Bucket   string
	TTL      time.Duration // how long a body is kept; 0 means for ever
	Replicas int           // 0 means 1
}

// Validate reports the first field of c that NewObjectStore would
// refuse, as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c ObjectStoreConfig) Validate() error {
	switch {
	case !validBucketName(c.Bucket):
		return configError("Bucket", "%q: a bucket name is not empty and has only letters, digits, '-' and '_'", c.Bucket)
	case c.TTL < 0:
		return configError("TTL", "must not be negative (0 means for ever), got %s", c.TTL)
	}
	return validReplicas(c.Replicas)
}

// ObjectStore keeps bodies over the inline cap in a JetStream Object
// Store bucket, each under the hex SHA-256 of its bytes, so that a body
// fetched twice is stored once (an httpfetch.BodyStore). Safe for
// concurrent use.
//
// A body is streamed in, chunk by chunk (128 KiB), under a temporary name
// while its hash is not known yet; once it is, the object is renamed to
// its hash, or, when that name is taken (the same body stored before, or
// by another replica at the same time), the new copy is deleted. What it
// costs: one chunk of memory per body on its way, the bucket's replicas
// on the servers' disks, and, for a body stored before, its transfer and
// a purge.
type ObjectStore struct {
	bucket string
	obs    jetstream.ObjectStore
}

// NewObjectStore finds the bucket or creates it (file storage, TTL,
// Replicas). An existing bucket is used as it is, with a warning where
// its TTL or replicas differ. Each request is tried again while JetStream
// cannot answer it (no leader elected yet, a node lost), until ctx ends:
// ctx bounds the whole wait.
func NewObjectStore(ctx context.Context, nc *nats.Conn, cfg ObjectStoreConfig, log *slog.Logger) (*ObjectStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	type found struct {
		obs    jetstream.ObjectStore
		status jetstream.ObjectStoreStatus
	}
	bucket, err := setupStep(ctx, nc, log, "the object store bucket "+cfg.Bucket, func(ctx context.Context) (found, error) {
		obs, err := ensureObjectStore(ctx, js, cfg, log)
		if err != nil {
			return found{}, err
		}
		status, err := obs.Status(ctx)
		if err != nil {
			return found{}, fmt.Errorf("object store bucket %q: %w", cfg.Bucket, err)
		}
		return found{obs, status}, nil
	})
	if err != nil {
		return nil, err
	}
	obs, status := bucket.obs, bucket.status
	if status.TTL() != cfg.TTL {
		log.Warn("the existing object store bucket has another TTL than configured; using it unchanged", "bucket", cfg.Bucket,
			"ttl", status.TTL(), "configured", cfg.TTL)
	}
	warnReplicas(log, "OBJ_"+cfg.Bucket, status.Replicas(), cfg.Replicas)
	return &ObjectStore{bucket: cfg.Bucket, obs: obs}, nil
}

// ensureObjectStore finds the bucket, or creates it: one try.
func ensureObjectStore(ctx context.Context, js jetstream.JetStream, cfg ObjectStoreConfig, log *slog.Logger) (jetstream.ObjectStore, error) {
	obs, err := js.ObjectStore(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      cfg.Bucket,
			Description: "fetchstream: response bodies over the inline cap, named by their SHA-256",
			TTL:         cfg.TTL,
			Storage:     jetstream.FileStorage,
			Replicas:    max(cfg.Replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			obs, err = js.ObjectStore(ctx, cfg.Bucket)
		} else if err == nil {
			log.Info("created the object store bucket", "bucket", cfg.Bucket, "ttl", cfg.TTL, "replicas", max(cfg.Replicas, 1))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("object store bucket %q: %w", cfg.Bucket, err)
	}
	return obs, nil
}

// Bucket is the bucket's name.
func (s *ObjectStore) Bucket() string { return s.bucket }

// Put streams body into the bucket and names it by its SHA-256 (see
// ObjectStore). ctx bounds the whole of it.
func (s *ObjectStore) Put(ctx context.Context, body io.Reader) (*wire.BodyObject, error) {
	temp := "incoming/" + nuid.Next()
	info, err := s.obs.Put(ctx, jetstream.ObjectMeta{Name: temp}, body)
	if err != nil {
		return nil, err
	}
	sum, err := digestHex(info.Digest)
	if err != nil {
		s.discard(temp)
		return nil, err
	}
	obj := &wire.BodyObject{Bucket: s.bucket, Name: sum, Size: int64(info.Size), SHA256: sum}
	existing, err := s.obs.GetInfo(ctx, sum)
	switch {
	case err == nil && existing.Size == info.Size:
		s.discard(temp) // stored before
		return obj, nil
	case err != nil && !errors.Is(err, jetstream.ErrObjectNotFound):
		s.discard(temp)
		return nil, err
	}
	err = s.obs.UpdateMeta(ctx, temp, jetstream.ObjectMeta{Name: sum})
	if errors.Is(err, jetstream.ErrObjectAlreadyExists) {
		s.discard(temp) // another replica stored it meanwhile
		return obj, nil
	}
	if err != nil {
		s.discard(temp)
		return nil, err
	}
	return obj, nil
}

// discard deletes an object this store put, on its own deadline: it runs
// after the caller's work is done or failed.
func (s *ObjectStore) discard(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.obs.Delete(ctx, name)
}

// digestHex turns an object's digest ("SHA-256=" and base64url) into hex.
func digestHex(digest string) (string, error) {
	b64, ok := strings.CutPrefix(digest, "SHA-256=")
	if !ok {
		return "", fmt.Errorf("object digest %q is not SHA-256", digest)
	}
	sum, err := base64.URLEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("object digest %q: %w", digest, err)
	}
	return hex.EncodeToString(sum), nil
}
