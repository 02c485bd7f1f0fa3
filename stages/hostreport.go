package stages

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// wakeTimer is the dispatcher's one timer, set for the earliest time a
// held gate may pass.
type wakeTimer struct {
	t  *time.Timer
	at time.Time // zero: not set
}

func newWakeTimer() *wakeTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &wakeTimer{t: t}
}

// set arms the timer for at (zero: disarms it), unless it is set for at already.
func (w *wakeTimer) set(at, now time.Time) {
	if at.Equal(w.at) {
		return
	}
	w.at = at
	if at.IsZero() {
		w.t.Stop()
		return
	}
	w.t.Reset(max(at.Sub(now), 0))
}

// c is the channel to select on: nil while the timer is not set.
func (w *wakeTimer) c() <-chan time.Time {
	if w.at.IsZero() {
		return nil
	}
	return w.t.C
}

func (w *wakeTimer) fired() { w.at = time.Time{} }

func (w *wakeTimer) stop() { w.t.Stop() }

// nextWake is the time of the earliest gate timer (zero: none). A stale
// entry may make it early; the wake then finds nothing due and re-arms.
func (s *scheduler) nextWake() time.Time {
	if len(s.timers) == 0 {
		return time.Time{}
	}
	return s.timers[0].at
}

// hostReporter tells a HostObserver, once a second, what waits on hosts.
type hostReporter struct {
	obs    HostObserver
	ticker *time.Ticker
	quiet  bool // the last report had nothing waiting
}

const hostReportEvery = time.Second

func newHostReporter(cfg FetchConfig) *hostReporter {
	obs, ok := cfg.Observer.(HostObserver)
	if !ok {
		return &hostReporter{}
	}
	return &hostReporter{obs: obs, ticker: time.NewTicker(hostReportEvery)}
}

func (h *hostReporter) c() <-chan time.Time {
	if h.ticker == nil {
		return nil
	}
	return h.ticker.C
}

// report counts the waits and tells the observer, unless nothing waited
// now nor at the last report. final stops the ticker.
func (h *hostReporter) report(s *scheduler, now time.Time, final bool) {
	if h.obs == nil {
		return
	}
	if final {
		h.ticker.Stop()
	}
	stats := s.hostStats(now)
	quiet := stats.Paused == 0 && stats.Waiting == 0
	if quiet && h.quiet {
		return
	}
	h.quiet = quiet
	h.obs.Hosts(stats)
}

// hostStats counts the paused hosts and the URLs parked on gates, by
// host: O(gates + parked lanes).
func (s *scheduler) hostStats(now time.Time) HostStats {
	var stats HostStats
	byHost := map[string]int{}
	for _, g := range s.gates {
		if g.pausedUntil.After(now) {
			stats.Paused++
		}
		for _, l := range g.waiting() {
			n := l.len()
			stats.Waiting += n
			byHost[strings.TrimPrefix(l.gates[0].key, "host ")] += n
		}
	}
	for host, n := range byHost {
		stats.Top = append(stats.Top, HostWaiting{Host: host, Waiting: n})
	}
	slices.SortFunc(stats.Top, func(a, b HostWaiting) int {
		return cmp.Or(cmp.Compare(b.Waiting, a.Waiting), cmp.Compare(a.Host, b.Host))
	})
	if len(stats.Top) > TopHosts {
		stats.Top = stats.Top[:TopHosts]
	}
	return stats
}
