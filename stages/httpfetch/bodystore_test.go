package httpfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fetchstream/fetchstream/wire"
)

// countingStore is a BodyStore that reads each body whole and counts it.
type countingStore struct{ puts atomic.Int64 }

func (s *countingStore) Put(_ context.Context, body io.Reader) (*wire.BodyObject, error) {
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return nil, err
	}
	s.puts.Add(1)
	sum := hex.EncodeToString(h.Sum(nil))
	return &wire.BodyObject{Bucket: "b", Name: sum, Size: n, SHA256: sum}, nil
}

// A body over the inline cap goes to the store whole; one fetched with a
// credential never does (a stored body is not redacted): it is cut
// inline, where the credential's value is redacted.
func TestBodyStoreTakesNoCredentialedBody(t *testing.T) {
	body := strings.Repeat("a", 200<<10) + secret + strings.Repeat("b", 100<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	store := &countingStore{}
	creds := mustCredentials(t, `{"api": {"hosts": ["`+srv.Listener.Addr().String()+`"], "headers": {"X-Api-Key": "${T}"}}}`)
	f := newTestFetcher(t, Config{Policy: loopbackNet, Credentials: creds, MaxBody: 256 << 10, Objects: store})

	r := do(f, wire.Request{URL: srv.URL}, nil)
	sum := sha256.Sum256([]byte(body))
	if r.BodyObject == nil || r.BodyObject.SHA256 != hex.EncodeToString(sum[:]) || r.BodyObject.Size != int64(len(body)) || store.puts.Load() != 1 {
		t.Fatalf("without a credential: body_object %+v after %d puts, want the whole body stored once", r.BodyObject, store.puts.Load())
	}
	r = do(f, wire.Request{URL: srv.URL, Credential: "api"}, nil)
	if r.BodyObject != nil || !r.BodyTruncated || store.puts.Load() != 1 {
		t.Fatalf("with a credential: body_object %+v, truncated %v, %d puts: want the body cut inline, not stored",
			r.BodyObject, r.BodyTruncated, store.puts.Load())
	}
	if strings.Contains(string(r.Body), secret) {
		t.Error("the inline body shows the credential")
	}
}
