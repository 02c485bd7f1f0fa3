package connectors_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages"
)

// BenchmarkPublisherJetStream measures the publisher's JetStream path on
// one embedded server: batches of 100 small results and a summary, each
// batch settled once the stream has acked all of it; results/s.
//
//	go test -run '^$' -bench BenchmarkPublisherJetStream -benchtime 20x ./connectors/
func BenchmarkPublisherJetStream(b *testing.B) {
	_, nc := natstest.Start(b)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OUT", Subjects: []string{"res", "sum"},
		Storage: jetstream.MemoryStorage}); err != nil {
		b.Fatal(err)
	}
	p, err := connectors.NewPublisher(context.Background(), nc, connectors.PublisherConfig{Results: "res", Batches: "sum", MsgIDs: true,
		ResultsStream: "OUT", BatchesStream: "OUT", Logger: discardLog()})
	if err != nil {
		b.Fatal(err)
	}
	const batches, size = 20, 100
	b.ResetTimer()
	for n := range b.N {
		settles := make([]*settleRecord, batches)
		for i := range settles {
			settles[i] = newSettleRecord()
			feed(p, &stages.Job{ID: fmt.Sprintf("n%d-b%d", n, i), Settle: settles[i]}, size, "x")
		}
		for _, s := range settles {
			<-s.done
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batches*size)/b.Elapsed().Seconds(), "results/s")
	close(p.In())
	p.AwaitCompletion()
}
