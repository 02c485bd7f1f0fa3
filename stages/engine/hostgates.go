package engine

import (
	"strconv"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine/polite"
)

// gated reports whether job's URLs go through gates: when any per-host
// rule is on, for the stage or for the job.
func (s *scheduler) gated(job *stages.Job) bool {
	c := s.cfg
	return c.PerHost > 0 || c.PerHostRate > 0 || c.MaxHostPause > 0 || job.PerHostRate > 0 || s.obeysRobots(job)
}

func (s *scheduler) obeysRobots(job *stages.Job) bool {
	return s.startRobots != nil && (s.cfg.Robots || job.Robots)
}

func hostGateKey(key string) string { return "host " + key }

// attach makes b's URLs go through gates. A URL is put in its lane (one
// per host key and, with robots.txt, per site) when it is scanned into
// the window (see laneFor), not at admission: admitting a batch costs the
// same whatever its size, and a URL's host is parsed once, when the
// window reaches it.
func (s *scheduler) attach(b *batchState) {
	job := b.job
	b.laneOf = make([]*lane, len(job.Requests))
	b.lanesByKey = map[string]*lane{}
	b.obeysRobots = s.obeysRobots(job)
	if r := job.PerHostRate; r > 0 && (s.cfg.PerHostRate <= 0 || r < s.cfg.PerHostRate) {
		b.flowRate = r // it may lower the stage's rate, never raise it
	}
}

// laneFor returns index i's lane, making the lane and finding its gates
// the first time a URL of its host (and site) is scanned.
func (s *scheduler) laneFor(b *batchState, i int) *lane {
	if l := b.laneOf[i]; l != nil {
		return l
	}
	var key, origin string
	if t, ok := polite.ParseTarget(b.url(i)); ok {
		key = t.Key(s.cfg.PerHostKey)
		if b.obeysRobots {
			origin = t.Origin()
		}
	}
	laneKey := key
	if b.obeysRobots {
		laneKey += " " + origin
	}
	l := b.lanesByKey[laneKey]
	if l == nil {
		l = &lane{batch: b, heapAt: -1}
		if key != "" { // no host: it fails without a request, so nothing holds it
			l.gates = append(l.gates, s.hostGate(key))
			if b.obeysRobots {
				l.robots = s.robotsGate(origin)
				l.gates = append(l.gates, l.robots)
			}
			if b.flowRate > 0 {
				l.gates = append(l.gates, s.flowGate(b.job.Flow, key, b.flowRate))
			}
		}
		for _, g := range l.gates {
			g.refs++
		}
		b.lanesByKey[laneKey] = l
		b.lanes = append(b.lanes, l)
	}
	b.laneOf[i] = l
	return l
}

func (s *scheduler) gate(key string, create func(*gate)) *gate {
	g := s.gates[key]
	if g == nil {
		g = &gate{key: key}
		create(g)
		s.gates[key] = g
	}
	return g
}

// hostGate is the host's cap and pace, and where its pauses go.
func (s *scheduler) hostGate(key string) *gate {
	return s.gate(hostGateKey(key), func(g *gate) {
		g.Gate = polite.NewHostGate(time.Now(), s.cfg.PerHost, s.cfg.PerHostRate, s.cfg.PerHostBurst, s.cfg.PerHostJitter)
	})
}

// robotsGate holds a site's URLs until its robots.txt is in, then paces
// them by its Crawl-delay.
func (s *scheduler) robotsGate(origin string) *gate {
	return s.gate("robots "+origin, func(g *gate) { g.Gate = polite.NewRobotsGate(origin) })
}

// flowGate is a flow's own, lower pace for one host.
func (s *scheduler) flowGate(flow, key string, r float64) *gate {
	return s.gate("flow "+strconv.Quote(flow)+" "+key, func(g *gate) { g.Gate = polite.NewPaceGate(time.Now(), r) })
}
