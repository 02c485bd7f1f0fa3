package engine

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// This file is part of layer 3, politeness (see the package doc): what
// waits on hosts, told to a HostObserver once a second. Cost: O(gates +
// parked lanes) per report.

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
func (h *hostReporter) report(hs politeness, now time.Time, final bool) {
	if h.obs == nil {
		return
	}
	if final {
		h.ticker.Stop()
	}
	stats := hs.stats(now)
	quiet := stats.Paused == 0 && stats.Waiting == 0
	if quiet && h.quiet {
		return
	}
	h.quiet = quiet
	h.obs.Hosts(stats)
}

// stats counts the paused hosts and the URLs parked on gates, by host:
// O(gates + parked lanes).
func (h *hosts) stats(now time.Time) HostStats {
	var stats HostStats
	byHost := map[string]int{}
	for _, g := range h.gates {
		if g.PausedAt(now) {
			stats.Paused++
		}
		for _, l := range g.waiting() {
			n := l.len()
			stats.Waiting += n
			byHost[strings.TrimPrefix(l.gates[0].key, "host ")] += n
		}
	}
	stats.Fleet = h.fleetStats(now)
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

// fleetStats is, with a fleet, its paced, capped or paused hosts (see
// HostStats.Fleet): O(gates).
func (h *hosts) fleetStats(now time.Time) []HostFleet {
	if h.fleet == nil {
		return nil
	}
	var out []HostFleet
	for _, g := range h.gates {
		host, ok := strings.CutPrefix(g.key, "host ")
		if !ok || !g.Leased() {
			continue
		}
		taken, since := g.LeasesTaken()-g.statTaken, now.Sub(g.statAt)
		g.statTaken, g.statAt = g.LeasesTaken(), now
		paused := g.PausedAt(now)
		if g.Rate() == 0 && !paused && !g.Permitted() {
			continue
		}
		f := HostFleet{Host: host, Pace: g.Rate()}
		if g.Permitted() {
			f.Cap, f.Permits = g.Cap(), g.Permits()
		}
		if f.Pace > 0 && since > 0 && since < time.Hour {
			f.Share = min(float64(taken)/since.Seconds()/f.Pace, 1)
		}
		if paused {
			f.PausedUntil, f.PausedBy = g.PausedUntil(), g.pausedBy
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b HostFleet) int {
		return cmp.Or(b.PausedUntil.Compare(a.PausedUntil), cmp.Compare(b.Share, a.Share), cmp.Compare(b.Permits, a.Permits), cmp.Compare(a.Host, b.Host))
	})
	return out[:min(len(out), TopHosts)]
}
