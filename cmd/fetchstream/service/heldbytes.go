package service

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/engine"
)

// gatheredReplies reports the bytes the publisher's one-message replies
// hold, so that the fetch stage counts them against Fetch.MaxHeldBytes:
// up to a max payload per request-reply batch, 256 such batches would
// otherwise hold 256 max payloads beside the budget. The fetch stage is
// built before the publisher, so the publisher is set once it exists.
type gatheredReplies struct {
	publisher atomic.Pointer[connectors.Publisher]
}

// held is what the replies hold now; 0 before the publisher is set.
func (g *gatheredReplies) held() int64 {
	if p := g.publisher.Load(); p != nil {
		return p.Stats().ReplyBytesHeld
	}
	return 0
}

// watchHeld registers gauges of the result bytes the fetch stage holds
// (now and at most) and of the replies being gathered, read at each
// scrape.
func (m *metrics) watchHeld(held func() engine.HeldBytes, replies func() int64) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fetchstream_held_result_bytes",
			Help: "Bytes of finished results the fetch stage holds behind slow first URLs or for publishing (bounded by --max-held-bytes)."},
			func() float64 { return float64(held().Now) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fetchstream_held_result_bytes_peak",
			Help: "The most bytes of finished results the fetch stage held at once since the start."},
			func() float64 { return float64(held().Peak) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fetchstream_reply_gathered_bytes",
			Help: "Bytes of one-message replies being gathered now (they count against --max-held-bytes too)."},
			func() float64 { return float64(replies()) }))
}
