package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// BenchmarkClusterReplicas measures a latency-bound load (batches of 10
// URLs that each take 20 ms, 16 requests in flight per replica) on a
// three-node cluster, with 1, 2 and 3 in-process replicas and the input
// and results streams at R1 and R3: URLs/s from the first publish until
// the results stream holds every result and summary. It skips under
// -short (it starts a cluster per case).
//
//	go test -run '^$' -bench BenchmarkClusterReplicas -benchtime 3x ./connectors/
func BenchmarkClusterReplicas(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a three-node cluster per case")
	}
	for _, r := range []int{1, 3} {
		for _, replicas := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("R%d/replicas=%d", r, replicas), func(b *testing.B) {
				benchCluster(b, r, replicas)
			})
		}
	}
}

func benchCluster(b *testing.B, r, replicas int) {
	c := natstest.StartCluster(b, 3)
	nc := c.Connect(b)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
		Name: "OUT", Subjects: []string{"res", "res.batches"}, Replicas: r}, discardLog()); err != nil {
		b.Fatal(err)
	}
	setup := clusterSetup()
	setup.Replicas = r
	cfg := workerConfig{url: c.URLs(), setup: setup, results: "res", resultsStream: "OUT", concurrency: 16}
	for range replicas {
		startWorker(b, cfg)
	}
	const batches, size, sleepMS = 200, 10, 20
	urls := make([]string, size)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://sleep/%d", sleepMS)
	}
	var stored uint64
	b.ResetTimer()
	start := time.Now()
	for n := range b.N {
		for i := range batches {
			data, _ := json.Marshal(wire.Batch{ID: fmt.Sprintf("n%d-b%d", n, i), URLs: wire.URLs(urls...)})
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "in", Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		stored += batches * (size + 1)
		for streamMsgCount(js, "OUT") < stored {
			if ctx.Err() != nil {
				b.Fatalf("results stream holds %d of %d", streamMsgCount(js, "OUT"), stored)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*batches*size)/elapsed.Seconds(), "urls/s")
	b.ReportMetric(float64(replicas*16*1000/sleepMS), "bound_urls/s")
}
