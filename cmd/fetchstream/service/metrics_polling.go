package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
)

// pollingStats is what micro stats show of polling: the fetcher's
// validator counts and the batches schedules published.
type pollingStats struct {
	validators func() httpfetch.ValidatorStats // nil without validators
	scheduled  func() int64                    // nil in core mode
}

// watchValidators registers counters of what the validators did (304s
// to the service's own conditional requests, results changed and
// unchanged, lookups that failed) and of the bucket's failed and dropped
// writes, read at each scrape, and shows them in micro stats.
func (m *metrics) watchValidators(fetcher func() httpfetch.ValidatorStats, bucket func() connectors.ValidatorBucketStats) {
	m.polling.validators = fetcher
	count := func(name, help string, read func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(read()) })
	}
	m.registry.MustRegister(
		count("fetchstream_not_modified_total", "304 Not Modified answers to the service's own conditional GETs (--validators): results with changed false and no body.",
			func() uint64 { return fetcher().NotModified }),
		count("fetchstream_changed_total", "Results that said changed true (--validators): first fetch, another body hash, or validators that could not be read.",
			func() uint64 { return fetcher().Changed }),
		count("fetchstream_unchanged_total", "Results that said changed false (--validators): a 304, or the same body hash.",
			func() uint64 { return fetcher().Unchanged }),
		count("fetchstream_validator_lookup_failures_total", "Validator lookups that failed or timed out: those GETs went out unconditional and said changed.",
			func() uint64 { return fetcher().LookupFailures }),
		count("fetchstream_validator_store_failures_total", "Validator writes to the bucket that failed.",
			func() uint64 { return bucket().StoreFailures }),
		count("fetchstream_validator_store_drops_total", "Validator writes dropped because the bucket was too slow (the queue was full).",
			func() uint64 { return bucket().StoreDrops }))
}

// watchScheduled registers the counter of batches that NATS message
// schedules published into the input (JetStream mode), and shows it in
// micro stats.
func (m *metrics) watchScheduled(stats func() connectors.JetStreamStats) {
	m.polling.scheduled = func() int64 { return stats().Scheduled }
	m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fetchstream_scheduled_batches_total",
		Help: "Batches a NATS message schedule (fetchstream schedule add) published into the input, counted at their first delivery to this replica."},
		func() float64 { return float64(stats().Scheduled) }))
}

// pollingMicroStats fills s's polling counts.
func (m *metrics) pollingMicroStats(s *microStats) {
	if read := m.polling.validators; read != nil {
		v := read()
		s.NotModified, s.Changed, s.Unchanged = v.NotModified, v.Changed, v.Unchanged
	}
	if read := m.polling.scheduled; read != nil {
		s.Scheduled = read()
	}
}
