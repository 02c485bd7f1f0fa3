package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

// bodyFetcher answers every URL with a 200 and a text body made from the
// URL, of a length that varies from URL to URL (under the 8 KiB a
// released Encoded keeps), so that the encode stage writes each result
// over the buffer of an earlier one.
type bodyFetcher struct{}

func expectedBody(rawURL string) json.RawMessage {
	h := fnv.New32a()
	h.Write([]byte(rawURL))
	return json.RawMessage(strconv.Quote(strings.Repeat(rawURL+";", 1+int(h.Sum32()%80))))
}

func (bodyFetcher) Do(_ context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	return wire.Result{URL: req.URL, Status: 200, Body: expectedBody(req.URL)}
}

func pooledURL(batch string, i int) string {
	return fmt.Sprintf("http://h%d.example/%s/%d", i%3, batch, i)
}

// checkResult fails t unless data is the result of URL index of batch,
// with its own body: a buffer the publisher handed back too early would
// show another result's bytes here.
func checkResult(t *testing.T, where string, data []byte) (batch string, index int) {
	t.Helper()
	var r wire.Result
	if err := json.Unmarshal(data, &r); err != nil {
		t.Errorf("%s: not a result: %v: %.200s", where, err, data)
		return "", -1
	}
	if want := pooledURL(r.BatchID, r.Index); r.URL != want || string(r.Body) != string(expectedBody(want)) {
		t.Errorf("%s: result %s/%d holds url %q and a body of %d bytes; want %q with its own body",
			where, r.BatchID, r.Index, r.URL, len(r.Body), want)
	}
	return r.BatchID, r.Index
}

// fetchEncodePublish runs the real fetch and encode stages, with
// bodyFetcher, into a Publisher of cfg, as the service does (the caller
// feeds and closes fetch.In); done is closed once the sink has published
// and settled everything.
func fetchEncodePublish(t *testing.T, nc *nats.Conn, fetchCfg engine.FetchConfig, cfg connectors.PublisherConfig) (fetch *engine.Fetch, done <-chan struct{}) {
	t.Helper()
	ctx := context.Background()
	fetch, err := engine.NewFetch(ctx, bodyFetcher{}, fetchCfg)
	if err != nil {
		t.Fatal(err)
	}
	encode, err := stages.NewEncode(stages.EncodeConfig{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := connectors.NewPublisher(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { defer close(closed); fetch.Via(encode).To(sink) }()
	return fetch, closed
}

// Results encoded by the real encode stage, whose buffers the publisher
// hands back (stages.Encoded.Release) for the next results, arrive intact
// on every path that takes the bytes: the results subject (core NATS, or
// JetStream publishes awaiting their acks), a gathered one-message reply
// and a streamed reply.
func TestPublishedResultsSurviveBufferReuse(t *testing.T) {
	for _, mode := range []struct {
		name      string
		jetStream bool
	}{{"core", false}, {"jetstream", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			const batches, perBatch = 40, 50
			_, nc := natstest.Start(t)
			cfg := connectors.PublisherConfig{Results: "res", Batches: "sum", MsgIDs: true}
			if mode.jetStream {
				js, _ := jetstream.New(nc)
				if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OUT", Subjects: []string{"res", "sum"}}); err != nil {
					t.Fatal(err)
				}
				cfg.ResultsStream, cfg.BatchesStream = "OUT", "OUT"
			}
			results, _ := nc.SubscribeSync("res")
			replies, _ := nc.SubscribeSync("reply.>")
			summaries, _ := nc.SubscribeSync("sum")
			for _, s := range []*nats.Subscription{results, replies, summaries} {
				_ = s.SetPendingLimits(-1, -1)
			}
			_ = nc.Flush()

			fetch, done := fetchEncodePublish(t, nc, engine.FetchConfig{Concurrency: 16, Window: 16, MaxActive: 8}, cfg)

			settles := make([]*settleRecord, batches)
			for b := range batches {
				id := fmt.Sprintf("b%d", b)
				job := &stages.Job{ID: id, Flow: id, Timeout: time.Second, Start: time.Now(),
					Reply: "reply." + id, ReplyStream: b%2 == 1}
				for i := range perBatch {
					job.Requests = append(job.Requests, wire.Request{URL: pooledURL(id, i)})
				}
				if mode.jetStream {
					settles[b] = newSettleRecord()
					job.Settle = settles[b]
				}
				fetch.In() <- job
			}
			close(fetch.In())
			<-done
			for b, s := range settles {
				if s != nil && !s.wait(t) {
					t.Errorf("batch b%d settled incomplete", b)
				}
			}

			seen := map[string]int{}
			for range batches * perBatch {
				m, err := results.NextMsg(10 * time.Second)
				if err != nil {
					t.Fatalf("results: %v (%d seen)", err, len(seen))
				}
				b, i := checkResult(t, "results subject", m.Data)
				seen[fmt.Sprintf("%s/%d", b, i)]++
			}
			if len(seen) != batches*perBatch {
				t.Errorf("%d distinct results on the results subject, want %d", len(seen), batches*perBatch)
			}
			// Gathered replies: one array each; streamed: a message per
			// result, then the summary.
			want := batches/2 + batches/2*(perBatch+1)
			for range want {
				m, err := replies.NextMsg(10 * time.Second)
				if err != nil {
					t.Fatalf("replies: %v", err)
				}
				switch m.Header.Get(wire.HeaderReplyPart) {
				case wire.ReplyPartResult:
					checkResult(t, "streamed reply", m.Data)
				case wire.ReplyPartSummary:
				default:
					var all []json.RawMessage
					if err := json.Unmarshal(m.Data, &all); err != nil || len(all) != perBatch {
						t.Errorf("gathered reply %s: %d results, %v: %.200s", m.Subject, len(all), err, m.Data)
						continue
					}
					for i, r := range all {
						if _, got := checkResult(t, "gathered reply", r); got != i {
							t.Errorf("gathered reply %s: result %d at %d", m.Subject, got, i)
						}
					}
				}
			}
		})
	}
}

// A JetStream publish that met no responders (no stream yet, or one
// electing its leader) is sent again by the client 250 ms later, from the
// nats.Msg it kept, Data and all. So the publisher must not hand the
// result's bytes back while such a publish awaits its ack: the stream
// would store another result's JSON under this one's Nats-Msg-Id, and
// deduplicate the real one away for good.
func TestJetStreamRetriedPublishesKeepTheirBytes(t *testing.T) {
	t.Parallel()
	const n = 200
	_, nc := natstest.Start(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	fetch, done := fetchEncodePublish(t, nc, engine.FetchConfig{Concurrency: 16, Window: 64, MaxActive: 4},
		connectors.PublisherConfig{Results: "res", Batches: "sum", MsgIDs: true,
			ResultsStream: "OUT", BatchesStream: "OUT", AckTimeout: 5 * time.Second})
	settle := newSettleRecord()
	job := &stages.Job{ID: "b", Flow: "b", Timeout: time.Second, Start: time.Now(), Settle: settle}
	for i := range n {
		job.Requests = append(job.Requests, wire.Request{URL: pooledURL("b", i)})
	}
	fetch.In() <- job
	close(fetch.In())
	// The first publishes meet no stream; the stream is there for their
	// retries.
	time.Sleep(100 * time.Millisecond)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"res", "sum"}}); err != nil {
		t.Fatal(err)
	}
	if !settle.wait(t) {
		t.Fatal("settled incomplete: the retries did not land")
	}
	<-done
	stream, err := js.Stream(ctx, "OUT")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(ctx)
	checked := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil || m.Subject != "res" {
			continue
		}
		batch, index := checkResult(t, "stored result", m.Data)
		if id := m.Header.Get(nats.MsgIdHdr); id != fmt.Sprintf("%s/%d", batch, index) {
			t.Errorf("stored under %s: the JSON of %s/%d", id, batch, index)
		}
		checked++
	}
	if checked != n {
		t.Errorf("%d results stored, want %d", checked, n)
	}
}
