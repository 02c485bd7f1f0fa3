package connectors_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
)

var _ httpfetch.BodyStore = (*connectors.ObjectStore)(nil)

// bigBody serves the same 3 MB of random bytes at /sized (with a
// Content-Length) and /chunked (without).
func bigBody(t *testing.T) (string, []byte) {
	t.Helper()
	body := make([]byte, 3_000_000)
	rng := rand.NewChaCha8([32]byte{1, 6})
	_, _ = rng.Read(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		for rest := body; len(rest) > 0; rest = rest[min(len(rest), 64<<10):] {
			if _, err := w.Write(rest[:min(len(rest), 64<<10)]); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, body
}

func objectFetcher(t *testing.T, store httpfetch.BodyStore, maxObject int64) *httpfetch.Fetcher {
	t.Helper()
	f, err := httpfetch.New(httpfetch.Config{Concurrency: 4, MaxBody: 256 << 10, Objects: store, MaxObject: maxObject,
		Policy: httpfetch.Policy{AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// A 3 MB body over the 256 KiB inline cap goes to the Object Store under
// its SHA-256 and reads back whole; fetched again (with or without a
// Content-Length), it is stored once.
func TestObjectStoreKeepsBodiesOverTheInlineCap(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := connectors.NewObjectStore(ctx, nc, connectors.ObjectStoreConfig{Bucket: "bodies", TTL: time.Hour}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	url, body := bigBody(t)
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	f := objectFetcher(t, store, 0)
	for _, path := range []string{"/sized", "/chunked", "/sized"} {
		res := f.Fetch(ctx, url+path, 30*time.Second)
		if !res.OK() || res.BodyObject == nil {
			t.Fatalf("%s: %+v: want a stored body", path, res)
		}
		o := res.BodyObject
		if o.Bucket != "bodies" || o.Name != want || o.SHA256 != want || o.Size != int64(len(body)) {
			t.Fatalf("%s: body_object %+v, want bucket bodies, name and sha256 %s, size %d", path, o, want, len(body))
		}
		if res.Body != nil || res.BodyTruncated || res.BodySHA256 != want || res.BodyBytes != int64(len(body)) {
			t.Fatalf("%s: inline body %d bytes, truncated %v, body_sha256 %s, body_bytes %d: want no inline body and the whole body's hash",
				path, len(res.Body), res.BodyTruncated, res.BodySHA256, res.BodyBytes)
		}
	}
	js, _ := jetstream.New(nc)
	obs, err := js.ObjectStore(ctx, "bodies")
	if err != nil {
		t.Fatal(err)
	}
	r, err := obs.Get(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != int64(len(body)) || got != want {
		t.Fatalf("read back %d bytes with SHA-256 %s, want %d with %s", n, got, len(body), want)
	}
	list, err := obs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != want {
		names := []string{}
		for _, o := range list {
			names = append(names, o.Name)
		}
		t.Fatalf("bucket holds %v, want the one body %s", names, want)
	}
}

// A body over MaxObject is cut inline, as without a store, and leaves
// nothing in the bucket.
func TestObjectStoreLeavesBodiesOverMaxObject(t *testing.T) {
	t.Parallel()
	_, nc := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := connectors.NewObjectStore(ctx, nc, connectors.ObjectStoreConfig{Bucket: "bodies"}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	url, _ := bigBody(t)
	f := objectFetcher(t, store, 1<<20)
	for _, path := range []string{"/sized", "/chunked"} {
		res := f.Fetch(ctx, url+path, 30*time.Second)
		if !res.OK() || res.BodyObject != nil || !res.BodyTruncated || res.BodyBytes != 256<<10 {
			t.Fatalf("%s: error %q, body_object %+v, truncated %v, body_bytes %d: want the body cut at 256 KiB inline",
				path, res.Error, res.BodyObject, res.BodyTruncated, res.BodyBytes)
		}
	}
	js, _ := jetstream.New(nc)
	obs, _ := js.ObjectStore(ctx, "bodies")
	if list, err := obs.List(ctx); !errorsIsNoObjects(err) || len(list) != 0 {
		t.Fatalf("bucket holds %d objects (%v), want none", len(list), err)
	}
}

func errorsIsNoObjects(err error) bool { return err == nil || err == jetstream.ErrNoObjectsFound }
