package connectors

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// A dead letter is the batch plus headers, so one near the server's max
// payload would not fit: it is sent without its summary, or without its
// data (saying its size), at once, not retried in vain until the
// delivery runs out.
func TestDeadLetterFitsInOneMessage(t *testing.T) {
	const maxPayload = 4096
	nc := natstest.Connect(t, natstest.StartWithOptions(t, &server.Options{MaxPayload: maxPayload}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := NewDeadLetter(ctx, nc, "dead")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe("dead", got); err != nil {
		t.Fatal(err)
	}
	summary := []byte(`{"batch_id":"b","message":"` + strings.Repeat("s", 1500) + `"}`)
	for _, tc := range []struct {
		name                 string
		data                 int
		keepSummary, keepAll bool
	}{
		{"small", 100, true, true},
		{"near the limit", 3000, false, true},
		{"at the limit", maxPayload - 64, false, false},
	} {
		start := time.Now()
		data := []byte(strings.Repeat("u", tc.data))
		err := d.publish(ctx, deadLetter{data: data, header: nats.Header{}, kind: wire.DeadMaxDeliver,
			reason: "why", stream: "IN", seq: 7, deliveries: 5, summary: summary})
		if err != nil {
			t.Fatalf("%s: %v after %s", tc.name, err, time.Since(start))
		}
		select {
		case m := <-got:
			if has := m.Header.Get(wire.HeaderDeadSummary) != ""; has != tc.keepSummary {
				t.Errorf("%s: summary header present %v, want %v", tc.name, has, tc.keepSummary)
			}
			if tc.keepAll && len(m.Data) != tc.data {
				t.Errorf("%s: %d bytes of data, want %d", tc.name, len(m.Data), tc.data)
			}
			if !tc.keepAll && (len(m.Data) != 0 || m.Header.Get(wire.HeaderDeadDataDropped) != strconv.Itoa(tc.data)) {
				t.Errorf("%s: data %d bytes, %s %q; want none and its size", tc.name, len(m.Data),
					wire.HeaderDeadDataDropped, m.Header.Get(wire.HeaderDeadDataDropped))
			}
			if m.Header.Get(wire.HeaderDeadSeq) != "7" {
				t.Errorf("%s: the dead letter does not name the batch's sequence", tc.name)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no dead letter came", tc.name)
		}
	}
}
