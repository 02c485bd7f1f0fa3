package service

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/fleet"
	"github.com/fetchstream/fetchstream/wire"
)

// hostMetrics are the series of the per-host rules: what waits on hosts
// now, as the fetch stage counts it about once a second, and the time
// URLs waited on them in all.
type hostMetrics struct {
	paused  prometheus.Gauge
	waiting prometheus.Gauge
	waited  prometheus.Counter
	// Per host, for at most engine.TopHosts hosts at a time (the series
	// are replaced at each count): the fleet's pace, this replica's share
	// of it, and the seconds left of a pause with the replica that saw it.
	fleetPace    *prometheus.GaugeVec
	fleetShare   *prometheus.GaugeVec
	fleetPaused  *prometheus.GaugeVec
	fleetPermits *prometheus.GaugeVec
	// fleet is this replica's side of the fleet, once it joined one (nil:
	// politeness is per replica); fleetFallbacks reads its count.
	fleet          atomic.Pointer[fleet.Fleet]
	fleetFallbacks prometheus.CounterFunc

	mu    sync.Mutex
	stats engine.HostStats
}

func newHostMetrics() hostMetrics {
	return hostMetrics{
		paused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fetchstream_hosts_paused",
			Help: "Hosts paused now because they answered 429 or 503 with Retry-After (at most --max-host-pause each)."}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fetchstream_host_waiting_urls",
			Help: "URLs waiting on their host now (its --per-host cap, --per-host-rate, a pause or robots.txt), without a slot."}),
		waited: prometheus.NewCounter(prometheus.CounterOpts{Name: "fetchstream_host_wait_seconds_total",
			Help: "Time URLs waited on their hosts before their fetch began, summed (host_wait_ms in results)."}),
		fleetPace: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fetchstream_fleet_host_pace",
			Help: "Requests per second the whole fleet may send the host (--per-host-rate, a batch's per_host_rate or Crawl-delay), for the hosts most used (at most 5)."}, []string{"host"}),
		fleetShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fetchstream_fleet_host_share",
			Help: "The part (0 to 1) of the fleet's pace for the host that this replica took at the last count, for the hosts most used (at most 5)."}, []string{"host"}),
		fleetPermits: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fetchstream_fleet_host_permits",
			Help: "The requests this replica may have in flight to the host now, of the fleet's --per-host cap, for the hosts most used (at most 5)."}, []string{"host"}),
		fleetPaused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fetchstream_fleet_host_paused_seconds",
			Help: "Seconds left of the host's pause (a 429 or 503 with Retry-After), for the whole fleet, by the replica that saw it (at most 5 hosts)."}, []string{"host", "seen_by"}),
	}
}

// newFleetFallbacks is the counter of leases this replica made on its own
// because the fleet's bucket refused them, read from h.fleet.
func (h *hostMetrics) newFleetFallbacks() prometheus.CounterFunc {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fetchstream_fleet_fallbacks_total",
		Help: "Leases of a host's pace this replica made on its own, at the fleet's rate divided by the replicas it counted, because the fleet's bucket refused them (full or unreachable)."},
		func() float64 {
			if f := h.fleet.Load(); f != nil {
				return float64(f.Stats().Fallbacks)
			}
			return 0
		})
}

// setFleet replaces the per-host series of the fleet by s's.
func (h *hostMetrics) setFleet(s engine.HostStats, now time.Time) {
	h.fleetPace.Reset()
	h.fleetShare.Reset()
	h.fleetPermits.Reset()
	h.fleetPaused.Reset()
	for _, f := range s.Fleet {
		if f.Pace > 0 {
			h.fleetPace.WithLabelValues(f.Host).Set(f.Pace)
			h.fleetShare.WithLabelValues(f.Host).Set(f.Share)
		}
		if f.Cap > 0 {
			h.fleetPermits.WithLabelValues(f.Host).Set(float64(f.Permits))
		}
		if !f.PausedUntil.IsZero() {
			h.fleetPaused.WithLabelValues(f.Host, f.PausedBy).Set(max(f.PausedUntil.Sub(now).Seconds(), 0))
		}
	}
}

func (h *hostMetrics) last() engine.HostStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Hosts implements engine.HostObserver.
func (m *metrics) Hosts(s engine.HostStats) {
	m.hosts.paused.Set(float64(s.Paused))
	m.hosts.waiting.Set(float64(s.Waiting))
	m.hosts.setFleet(s, time.Now())
	m.hosts.mu.Lock()
	m.hosts.stats = s
	m.hosts.mu.Unlock()
}

// Refused implements engine.HostObserver: a result made without a
// request (robots_disallowed) counts as a result, not as a request.
func (m *metrics) Refused(r *wire.Result) {
	m.resultCount.Add(1)
	m.failedCount.Add(1)
	series, ok := m.byOutcome[r.Error]
	if !ok {
		series = m.outcomeSeries(r.Error)
	}
	series.results.Inc()
	if r.HostWaitMS > 0 {
		m.hosts.waited.Add(r.HostWaitMS / 1000)
	}
}

// RequestDeferred implements engine.HostObserver: the URL's retry waits
// for its host without a slot, so it is no longer in flight.
func (m *metrics) RequestDeferred() {
	m.inFlight.Dec()
	m.inFlightCount.Add(-1)
}

var _ engine.HostObserver = (*metrics)(nil)
