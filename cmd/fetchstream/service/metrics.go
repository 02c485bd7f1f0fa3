package service

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing"
	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/wire"
)

// metrics are the service's Prometheus series, all prefixed fetchstream_.
// It is the fetch stage's Observer (and HostObserver) and the
// publisher's PublishObserver.
type metrics struct {
	// plain counts for `nats micro stats`
	batchCount, resultCount, failedCount, inFlightCount atomic.Int64

	registry      *prometheus.Registry
	results       *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	retries       prometheus.Counter
	batches       *prometheus.CounterVec
	batchDuration prometheus.Histogram
	publishErrors *prometheus.CounterVec
	reconnects    prometheus.Counter
	disconnects   prometheus.Counter
	slowConsumer  prometheus.Counter
	panics        *prometheus.CounterVec
	hosts         hostMetrics
	polling       pollingStats // set before the micro service is registered
	// byOutcome holds each URL outcome's series, looked up once here
	// rather than by label on every request; never written after newMetrics.
	byOutcome map[wire.ErrorKind]outcomeSeries
}

type outcomeSeries struct {
	results prometheus.Counter
	latency prometheus.Observer
}

// urlOutcomes are the per-URL error kinds, and "" for ok.
var urlOutcomes = append([]wire.ErrorKind{""}, wire.URLErrorKinds()...)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fetchstream_results_total",
			Help: "URLs fetched, by outcome: ok or the error kind."}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fetchstream_request_duration_seconds",
			Help:    "Time to fetch one URL (all attempts), by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fetchstream_requests_in_flight",
			Help: "HTTP requests in flight now (at most --concurrency)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "fetchstream_retries_total",
			Help: "Attempts beyond the first, over all URLs."}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fetchstream_batches_total",
			Help: "Batches finished, by outcome: done, or the batch error (invalid_batch, batch_too_large, max_deliver)."}, []string{"outcome"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fetchstream_batch_duration_seconds",
			Help:    "Wall time of a batch from its arrival to its summary.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fetchstream_publish_errors_total",
			Help: "Publishes to NATS that failed, by subject."}, []string{"subject"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "fetchstream_nats_reconnects_total",
			Help: "Reconnections to NATS."}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "fetchstream_nats_disconnects_total",
			Help: "Connections to NATS lost."}),
		slowConsumer: prometheus.NewCounter(prometheus.CounterOpts{Name: "fetchstream_slow_consumer_events_total",
			Help: "Times the client's pending limits overflowed and NATS dropped input messages for this process."}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fetchstream_panics_total",
			Help: "Panics recovered while fetching, encoding or publishing a URL's result (the URL ends as unexpected_error), by stage."},
			[]string{"stage"}),
	}
	m.hosts = newHostMetrics()
	m.hosts.fleetFallbacks = m.hosts.newFleetFallbacks()
	m.registry.MustRegister(m.hosts.fleetFallbacks, m.results, m.latency, m.inFlight, m.retries, m.batches, m.batchDuration,
		m.publishErrors, m.reconnects, m.disconnects, m.slowConsumer, m.panics,
		m.hosts.paused, m.hosts.waiting, m.hosts.waited, m.hosts.fleetPace, m.hosts.fleetShare, m.hosts.fleetPaused, m.hosts.fleetPermits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, stage := range panicStages {
		m.panics.WithLabelValues(stage)
	}
	m.byOutcome = make(map[wire.ErrorKind]outcomeSeries, len(urlOutcomes))
	for _, kind := range urlOutcomes {
		m.byOutcome[kind] = m.outcomeSeries(kind)
	}
	return m
}

func (m *metrics) outcomeSeries(kind wire.ErrorKind) outcomeSeries {
	o := outcome(kind)
	return outcomeSeries{results: m.results.WithLabelValues(o), latency: m.latency.WithLabelValues(o)}
}

// watchPending registers a gauge of the input messages and bytes the
// client holds, read at each scrape.
func (m *metrics) watchPending(pending func() (msgs, bytes int, err error)) {
	read := func(bytes bool) func() float64 {
		return func() float64 {
			msgs, b, err := pending()
			switch {
			case err != nil:
				return 0
			case bytes:
				return float64(b)
			}
			return float64(msgs)
		}
	}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fetchstream_input_pending_messages",
			Help: "Input messages received and waiting for the pipeline."}, read(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fetchstream_input_pending_bytes",
			Help: "Bytes of input messages received and waiting for the pipeline."}, read(true)))
}

// watchJetStream registers, for JetStream mode, a gauge of the input
// messages this replica holds and counters of how it settled them, read
// at each scrape.
func (m *metrics) watchJetStream(stats func() connectors.JetStreamStats) {
	settled := func(count func(connectors.JetStreamStats) int64) func() float64 {
		return func() float64 { return float64(count(stats())) }
	}
	settledOpts := func(outcome string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Name: "fetchstream_input_settled_total", ConstLabels: prometheus.Labels{"outcome": outcome},
			Help: "JetStream input messages settled by this replica: ack (batch complete), nak (handed back for redelivery), dead_letter (terminated)."}
	}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fetchstream_input_held_messages",
			Help: "JetStream input messages delivered to this replica and not yet settled (at most --max-active+2, and one more per batch that only waits for its hosts, up to --max-waiting)."},
			func() float64 { return float64(stats().Held) }),
		prometheus.NewCounterFunc(settledOpts("ack"), settled(func(s connectors.JetStreamStats) int64 { return s.Acked })),
		prometheus.NewCounterFunc(settledOpts("nak"), settled(func(s connectors.JetStreamStats) int64 { return s.Nakked })),
		prometheus.NewCounterFunc(settledOpts("dead_letter"), settled(func(s connectors.JetStreamStats) int64 { return s.DeadLettered })))
}

// microStats is what `nats micro stats fetchstream` shows as data.
type microStats struct {
	Batches  int64 `json:"batches"`
	Results  int64 `json:"results"`
	Failed   int64 `json:"failed"`
	InFlight int64 `json:"in_flight"`
	// The hosts paused and the URLs waiting on their hosts at the last
	// count (about once a second), with the hosts most waited on.
	HostsPaused     int                  `json:"hosts_paused,omitempty"`
	WaitingOnHosts  int                  `json:"waiting_on_hosts,omitempty"`
	TopWaitingHosts []engine.HostWaiting `json:"top_waiting_hosts,omitempty"`
	// FleetHosts are the paced or paused hosts as the fleet shares them
	// (at most 5): the fleet's pace, this replica's share, a pause and
	// who saw it.
	FleetHosts []engine.HostFleet `json:"fleet_hosts,omitempty"`
	// With validators: 304s to the service's own conditional requests,
	// and results that said changed true and false. In JetStream mode:
	// batches that message schedules published.
	NotModified uint64 `json:"not_modified,omitempty"`
	Changed     uint64 `json:"changed,omitempty"`
	Unchanged   uint64 `json:"unchanged,omitempty"`
	Scheduled   int64  `json:"scheduled_batches,omitempty"`
}

func (m *metrics) microStats() any {
	hosts := m.hosts.last()
	s := microStats{Batches: m.batchCount.Load(), Results: m.resultCount.Load(),
		Failed: m.failedCount.Load(), InFlight: m.inFlightCount.Load(),
		HostsPaused: hosts.Paused, WaitingOnHosts: hosts.Waiting, TopWaitingHosts: hosts.Top, FleetHosts: hosts.Fleet}
	m.pollingMicroStats(&s)
	return s
}

func outcome(kind wire.ErrorKind) string {
	if kind == "" {
		return "ok"
	}
	return string(kind)
}

// RequestStarted implements engine.Observer.
func (m *metrics) RequestStarted() {
	m.inFlight.Inc()
	m.inFlightCount.Add(1)
}

// RequestFinished implements engine.Observer.
func (m *metrics) RequestFinished(r *wire.Result) {
	m.inFlight.Dec()
	m.inFlightCount.Add(-1)
	m.resultCount.Add(1)
	if r.Error != "" {
		m.failedCount.Add(1)
	}
	if r.Attempts > 1 {
		m.retries.Add(float64(r.Attempts - 1))
	}
	series, ok := m.byOutcome[r.Error]
	if !ok {
		series = m.outcomeSeries(r.Error)
	}
	series.results.Inc()
	series.latency.Observe(r.ElapsedMS / 1000)
	if r.HostWaitMS > 0 {
		m.hosts.waited.Add(r.HostWaitMS / 1000)
	}
}

// BatchDone implements connectors.PublishObserver.
func (m *metrics) BatchDone(s *wire.Summary) {
	m.batchCount.Add(1)
	if s.Error != "" {
		m.batches.WithLabelValues(string(s.Error)).Inc()
		return
	}
	m.batches.WithLabelValues("done").Inc()
	m.batchDuration.Observe(s.ElapsedMS / 1000)
}

// panicStages are the stages that recover from a panic (stages.Panic.Stage).
var panicStages = []string{"fetch", "encode", "publish"}

// onPanic is every stage's OnPanic hook: it logs the panic at error level
// with its stack, and counts it by stage.
func (m *metrics) onPanic(log *slog.Logger) stages.OnPanic {
	return func(p stages.Panic) {
		m.panics.WithLabelValues(p.Stage).Inc()
		log.Error("recovered from a panic; the URL ends as unexpected_error", "stage", p.Stage, "batch_id", p.BatchID,
			"index", p.Index, "url", p.URL, "panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
	}
}

// PublishFailed implements connectors.PublishObserver.
func (m *metrics) PublishFailed(subject string) { m.publishErrors.WithLabelValues(subject).Inc() }

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

// watchTracing serves the spans tracing could not export: dropped while
// the bound of spans waiting was reached, and lost to a failed export
// (both 0 while tracing is off).
func (m *metrics) watchTracing(t *tracing.Provider) {
	count := func(f func(*tracing.Provider) int64) func() float64 {
		return func() float64 {
			if t == nil {
				return 0
			}
			return float64(f(t))
		}
	}
	m.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fetchstream_trace_spans_dropped_total",
			Help: "Spans dropped without export because OTEL_BSP_MAX_QUEUE_SIZE spans already waited for the collector (slow or gone)."},
			count((*tracing.Provider).Dropped)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fetchstream_trace_spans_export_failed_total",
			Help: "Spans whose OTLP export failed (refused, or the collector unreachable within the exporter's timeout and retries)."},
			count((*tracing.Provider).ExportFailed)))
}
