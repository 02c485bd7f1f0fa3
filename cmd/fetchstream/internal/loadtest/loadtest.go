// Package loadtest helps the tests of fetchstream's service and binary
// publish loads of batches and count what comes back, against a real NATS
// server (started with connectors/natstest) on the wire's default
// subjects; and do what every such test does: read one subject's messages
// in order (Subscribe), send a batch by request-reply (RequestBatch), run
// a service for a test (Launch) and keep its log (SyncBuffer), and build
// the fetchstream binary once (Binary).
package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// Key names one URL of one batch: what a consumer dedupes on.
type Key struct {
	Batch string
	Index int
}

// Collector counts the results (and summaries) seen on core subjects.
type Collector struct {
	mu        sync.Mutex
	results   map[Key]int
	kinds     map[Key]wire.ErrorKind
	total     int
	summaries map[string]int
}

// Collect subscribes to the default results and batches subjects.
func Collect(t testing.TB, nc *nats.Conn) *Collector {
	t.Helper()
	c := &Collector{results: map[Key]int{}, kinds: map[Key]wire.ErrorKind{}, summaries: map[string]int{}}
	for subject, handle := range map[string]nats.MsgHandler{
		wire.DefaultResultsSubject: func(m *nats.Msg) {
			var r wire.Result
			if json.Unmarshal(m.Data, &r) != nil {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			k := Key{r.BatchID, r.Index}
			c.results[k]++
			c.kinds[k] = r.Error
			c.total++
		},
		wire.DefaultBatchesSubject: func(m *nats.Msg) {
			var s wire.Summary
			if json.Unmarshal(m.Data, &s) != nil {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.summaries[s.BatchID]++
		},
	} {
		subscribeUnlimited(t, nc, subject, handle)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Counts returns distinct results, all results, and distinct summaries.
func (c *Collector) Counts() (unique, total, summaries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.results), c.total, len(c.summaries)
}

// Kind is the error kind of k's last result and how many results k got.
func (c *Collector) Kind(k Key) (wire.ErrorKind, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kinds[k], c.results[k]
}

// WaitFor polls cond until it holds, failing the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
	}
}

// Load is a set of batches to publish: ids b0..bN-1, each with the given URLs.
type Load struct {
	Batches int
	URLs    func(batch int) []string
}

// Batch is batch i of the load.
func (l Load) Batch(i int) wire.Batch {
	return wire.Batch{ID: fmt.Sprintf("b%d", i), URLs: wire.URLs(l.URLs(i)...)}
}

// Size is the number of URLs in the whole load.
func (l Load) Size() (n int) {
	for i := range l.Batches {
		n += len(l.URLs(i))
	}
	return n
}

// PublishJS publishes batches [from, to) into the input stream, each with
// its id as Nats-Msg-Id, retrying (through a server restart) until the
// stream has acked it: a client that cannot lose a batch does this.
func PublishJS(t testing.TB, js jetstream.JetStream, l Load, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		b := l.Batch(i)
		data, _ := json.Marshal(b)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := js.Publish(ctx, wire.DefaultInSubject, data, jetstream.WithMsgID(b.ID))
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", b.ID, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// PublishCore publishes batches [from, to) on the input subject.
func PublishCore(t testing.TB, nc *nats.Conn, l Load, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		data, _ := json.Marshal(l.Batch(i))
		if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
			t.Fatalf("publish b%d: %v", i, err)
		}
	}
}

// ConsumerState reads the durable consumer's counts.
func ConsumerState(t testing.TB, js jetstream.JetStream) (ackPending int, pending uint64) {
	t.Helper()
	info := ConsumerInfo(t, js)
	return info.NumAckPending, info.NumPending
}

// ConsumerInfo reads the service's durable consumer as the server sees it.
func ConsumerInfo(t testing.TB, js jetstream.JetStream) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, "FETCH_URLS", "fetchstream")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// CreateOutputStream makes a stream over the results and batches
// subjects, as a user who must not lose a result would.
func CreateOutputStream(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RESULTS", Storage: jetstream.FileStorage,
		Subjects: []string{wire.DefaultResultsSubject, wire.DefaultBatchesSubject}}); err != nil {
		t.Fatal(err)
	}
}

// StoredResults reads the RESULTS stream: distinct (batch, index) results
// and how many result messages it holds.
func StoredResults(t testing.TB, js jetstream.JetStream) (unique map[Key]bool, stored int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{wire.DefaultResultsSubject}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unique = map[Key]bool{}
	for left := int(info.NumPending); left > 0; {
		batch, err := cons.Fetch(min(left, 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var r wire.Result
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatal(err)
			}
			unique[Key{r.BatchID, r.Index}] = true
			stored++
			left--
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return unique, stored
}

// Delays is a load of batches of n URLs that each take 100-300 ms.
func Delays(target *fetchtest.Target, batches, n int) Load {
	return Load{Batches: batches, URLs: func(b int) []string {
		urls := make([]string, n)
		for i := range urls {
			urls[i] = target.URL(fmt.Sprintf("/delay/%d", 100+(b*37+i*53)%200))
		}
		return urls
	}}
}

// Same is a load of batches of n URLs, all of path on target.
func Same(target *fetchtest.Target, batches, n int, path string) Load {
	return Load{Batches: batches, URLs: func(int) []string {
		urls := make([]string, n)
		for i := range urls {
			urls[i] = target.URL(path)
		}
		return urls
	}}
}
