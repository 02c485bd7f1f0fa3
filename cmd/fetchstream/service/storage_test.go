package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// In JetStream mode with an object store and a results stream: the micro
// fetch endpoint answers a direct request (it is registered in JetStream
// mode too), a 3 MB body goes to the bucket under its SHA-256 and reads
// back whole, and the results stream the service created holds the
// result and the summary.
func TestJetStreamModeStoresBodiesAndResults(t *testing.T) {
	ns, nc := natstest.Start(t)
	body := strings.Repeat("0123456789abcdef", 3_000_000/16)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(target.Close)
	start(t, ns.ClientURL(), func(c *Config) {
		c.JetStream.Enabled = true
		c.Subjects.Micro = "svc.fetch"
		c.Storage.ObjectStore, c.Storage.ObjectTTL = "bodies", time.Hour
		c.Storage.ResultsStream = "RESULTS"
	})
	msg, err := nc.Request("svc.fetch", []byte(target.URL+"/big\n"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []wire.Result
	if err := json.Unmarshal(msg.Data, &got); err != nil || len(got) != 1 {
		t.Fatalf("reply %.300s: %v", msg.Data, err)
	}
	sum := sha256.Sum256([]byte(body))
	want := hex.EncodeToString(sum[:])
	o := got[0].BodyObject
	if o == nil || o.Bucket != "bodies" || o.Name != want || o.Size != int64(len(body)) || got[0].Body != nil {
		t.Fatalf("result %+v: want body_object in bucket bodies named %s, %d bytes, and no inline body", got[0], want, len(body))
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obs, err := js.ObjectStore(ctx, "bodies")
	if err != nil {
		t.Fatal(err)
	}
	data, err := obs.GetBytes(ctx, o.Name)
	if err != nil {
		t.Fatal(err)
	}
	if back := sha256.Sum256(data); hex.EncodeToString(back[:]) != want {
		t.Fatalf("read back %d bytes with another SHA-256", len(data))
	}
	stream, err := js.Stream(ctx, "RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("results stream: %+v, %v; want the result and the summary", info, err)
		}
	}
}
