package connectors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The warning of an existing consumer that differs from the flags says how
// to get the flags' settings: delete it (the nats CLI command), another
// --durable name, or, on the embedded server, another --data-dir.
func TestDifferingConsumerWarningSaysHowToGetTheFlags(t *testing.T) {
	got := jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, AckWait: 7 * time.Second, MaxDeliver: 5}
	for _, embedded := range []bool{false, true} {
		var logs bytes.Buffer
		want := ConsumerSetup{Stream: "FETCH_URLS", Subject: "fetch.urls", Durable: "fetchstream", AckWait: 30 * time.Second,
			MaxDeliver: 5, Embedded: embedded}
		if err := checkConsumer(got, want, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if !strings.Contains(out, "differs from the flags") || !strings.Contains(out, "nats consumer rm -f FETCH_URLS fetchstream") ||
			!strings.Contains(out, "another --durable name") || strings.Contains(out, "another --data-dir") != embedded {
			t.Errorf("embedded %v: %s", embedded, out)
		}
	}
}
