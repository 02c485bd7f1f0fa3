package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

// sleepFetcher "fetches" a URL ending in /<ms> by sleeping that long: a
// latency-bound load without HTTP. It returns promptly once ctx ends.
type sleepFetcher struct{}

func (sleepFetcher) Do(ctx context.Context, req wire.Request, _ *wire.RequestOptions, _ time.Duration) wire.Result {
	rawURL := req.URL
	ms, _ := strconv.Atoi(rawURL[strings.LastIndexByte(rawURL, '/')+1:])
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return wire.Result{URL: rawURL, Status: 200}
	case <-ctx.Done():
		return wire.Result{URL: rawURL, Error: wire.ErrCanceled, Message: "stopped"}
	}
}

// worker is an in-process fetchstream replica on a connection of its own:
// JetStreamSource → decode → fetch → encode → Publisher, as the service
// wires them.
type worker struct {
	t           testing.TB
	nc          *nats.Conn
	src         *connectors.JetStreamSource
	stopIntake  context.CancelFunc
	cancelFetch context.CancelFunc
	done        chan struct{}
	stopOnce    sync.Once
}

type workerConfig struct {
	url           string // the servers, comma-separated
	setup         connectors.ConsumerSetup
	results       string // results subject; summaries go to results+".batches"
	resultsStream string // the stream capturing both, "" for none
	concurrency   int
	microSubject  string        // register the micro fetch endpoint here, if set
	retryFor      time.Duration // the publisher's RetryFor; 0: its default
}

func startWorker(t testing.TB, cfg workerConfig) *worker {
	t.Helper()
	nc, err := nats.Connect(cfg.url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&logBuffer{}, nil))
	sourceCtx, stopIntake := context.WithCancel(context.Background())
	fetchCtx, cancelFetch := context.WithCancel(context.Background())
	w := &worker{t: t, nc: nc, stopIntake: stopIntake, cancelFetch: cancelFetch, done: make(chan struct{})}
	t.Cleanup(w.kill)
	fail := func(err error) *worker {
		t.Helper()
		t.Fatal(err)
		return nil
	}
	decode, err := stages.NewDecode(stages.DecodeConfig{MaxBatch: 1000, DefaultTimeout: 10 * time.Second, MaxTimeout: time.Minute})
	if err != nil {
		return fail(err)
	}
	concurrency := max(cfg.concurrency, 8)
	fetch, err := engine.NewFetch(fetchCtx, sleepFetcher{}, engine.FetchConfig{Concurrency: concurrency, Window: 64, MaxActive: 4})
	if err != nil {
		return fail(err)
	}
	encode, err := stages.NewEncode(stages.EncodeConfig{MaxBytes: int(nc.MaxPayload()) - 4096})
	if err != nil {
		return fail(err)
	}
	sink, err := connectors.NewPublisher(fetchCtx, nc, connectors.PublisherConfig{Results: cfg.results, Batches: cfg.results + ".batches",
		MsgIDs: true, ResultsStream: cfg.resultsStream, BatchesStream: cfg.resultsStream, Logger: log, RetryFor: cfg.retryFor})
	if err != nil {
		return fail(err)
	}
	dead, err := connectors.NewDeadLetter(sourceCtx, nc, "dead")
	if err != nil {
		return fail(err)
	}
	w.src, err = connectors.NewJetStreamSource(sourceCtx, nc, connectors.JetStreamSourceConfig{
		ConsumerSetup: cfg.setup, MaxPending: 6, PollWait: time.Second, DeadLetter: dead, Logger: log})
	if err != nil {
		return fail(err)
	}
	if cfg.microSubject != "" {
		svc, err := connectors.RegisterMicro(nc, w.src, connectors.MicroConfig{Name: "fetchstream", Version: "0.0.1",
			Subject: cfg.microSubject, Queue: "fetchstream"})
		if err != nil {
			return fail(err)
		}
		go func() {
			<-sourceCtx.Done()
			_ = svc.Stop()
		}()
	}
	go func() {
		defer close(w.done)
		w.src.Via(decode).Via(fetch).Via(encode).To(sink)
	}()
	return w
}

// kill stops the worker as kill -9 would: its connection is closed at
// once, with its batches unsettled, then its goroutines are let go.
func (w *worker) kill() {
	w.stopOnce.Do(func() {
		w.nc.Close()
		w.cancelFetch()
		w.stopIntake()
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			w.t.Error("the killed worker's pipeline did not wind down")
		}
	})
}

// sleepBatches publishes n batches of size URLs, each sleeping 50-250 ms,
// through JetStream (retrying while the cluster elects a leader), with
// ids b0, b1, ...
func sleepBatches(t *testing.T, js jetstream.JetStream, subject string, n, size int) {
	t.Helper()
	for b := range n {
		urls := make([]string, size)
		for i := range urls {
			urls[i] = fmt.Sprintf("http://sleep/%d", 50+(b*37+i*53)%200)
		}
		data, _ := json.Marshal(wire.Batch{ID: fmt.Sprintf("b%d", b), URLs: wire.URLs(urls...)})
		publishRetrying(t, js, &nats.Msg{Subject: subject, Data: data})
	}
}

func publishRetrying(t *testing.T, js jetstream.JetStream, msg *nats.Msg) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("publish on %s: %v", msg.Subject, err)
}

// storedOutputs reads a results stream whole: how many messages it holds
// on each subject, and the distinct (batch_id, index) results.
type storedOutputs struct {
	results, summaries int
	distinct           map[string]bool
}

// readResultsStream reads every message the stream holds, counting
// results on resultsSubject and summaries on any other subject. A read
// that a cluster's election interrupts (no responders, a fetch that
// returns nothing while a restarted node catches up) is started again,
// for up to 30s: the test judges the service, not its own reader.
func readResultsStream(t *testing.T, js jetstream.JetStream, stream, resultsSubject string) storedOutputs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		out, err := readResultsStreamOnce(ctx, js, stream, resultsSubject)
		if err == nil {
			return out
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// readResultsStreamOnce is one try of readResultsStream.
func readResultsStreamOnce(ctx context.Context, js jetstream.JetStream, stream, resultsSubject string) (storedOutputs, error) {
	out := storedOutputs{distinct: map[string]bool{}}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return out, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return out, fmt.Errorf("stream %s: %w", stream, err)
	}
	if info.State.Msgs == 0 {
		return out, nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return out, fmt.Errorf("stream %s: ordered consumer: %w", stream, err)
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(int(min(info.State.Msgs-read, 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return out, fmt.Errorf("stream %s: fetch: %w", stream, err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if msg.Subject() != resultsSubject {
				out.summaries++
				continue
			}
			out.results++
			var r wire.Result
			if err := json.Unmarshal(msg.Data(), &r); err != nil {
				return out, fmt.Errorf("result %s: %w", msg.Data(), err)
			}
			out.distinct[fmt.Sprintf("%s/%d", r.BatchID, r.Index)] = true
		}
		if got == 0 {
			return out, fmt.Errorf("read %d of the %d messages of stream %s: %v", read, info.State.Msgs, stream, batch.Error())
		}
		read += uint64(got)
	}
	return out, nil
}

// streamMsgCount is the stream's message count, 0 while it cannot be read.
func streamMsgCount(js jetstream.JetStream, stream string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}
