package engine

import (
	"context"
	"sync"
	"time"

	"github.com/fetchstream/fetchstream/stages/hostsignal"
	"github.com/fetchstream/fetchstream/stages/polite"
)

// This file is part of layer 3, politeness (see the package doc): what
// the fetcher says of hosts (a 429 or 503, a retry handed back) on its
// way to the dispatcher. Cost: a channel send per slow-down; a lock per
// pause and per PausedFor.

// hostSignal is a host's "slow down", on its way from a worker to the
// dispatcher. key is the host key; retryAfter is negative when none.
type hostSignal struct {
	key        string
	retryAfter time.Duration
	at         time.Time
	by         string // the replica that saw it, for a pause from the fleet
	fromFleet  bool
}

// slowDown applies what a host said: a pause of retryAfter (capped at
// MaxHostPause) when it gave one, else, when the host has a pace, half of
// it. The key is the host's gate key. A pause makes the host's gate if
// it has none (its URLs went ungated: see gated), and reports whether it
// turned pausing on, so that the scheduler attaches the batches that
// went ungated. A slow-down for a host with no gate is forgotten: it has
// no pace to halve. A pause or a slow-down this replica saw goes to the
// fleet too; a pause from the fleet (fromFleet) is capped all the same.
func (h *hosts) slowDown(sig hostSignal) (startedPausing bool) {
	if sig.retryAfter < 0 {
		g := h.gates[hostGateKey(sig.key)]
		if g != nil {
			g.SlowDown(sig.at)
		}
		if g != nil && g.Rate() > 0 && h.fleet != nil && !sig.fromFleet {
			h.fleet.SlowDown(sig.key)
		}
		return false
	}
	if h.cfg.MaxHostPause <= 0 {
		return false
	}
	// On the wall clock (Round(0)), which the fleet's replicas share: so a
	// pause from the fleet that this replica saw ends at the very same time.
	until := sig.at.Add(min(sig.retryAfter, h.cfg.MaxHostPause)).Round(0)
	g := h.hostGate(sig.key)
	switch {
	case until.After(g.PausedUntil()):
		g.pausedBy = sig.by
	case until.Equal(g.PausedUntil()) && g.pausedBy == "":
		g.pausedBy = sig.by // the fleet's word on a pause this replica saw: by this one
	}
	g.Pause(until)
	if h.fleet != nil && !sig.fromFleet {
		h.fleet.Pause(sig.key, until)
	}
	startedPausing = !h.pausing
	h.pausing = true
	return startedPausing
}

// signalBoard is the stage's hostsignal.Receiver. SlowDown hands the
// signal to the dispatcher, which pauses or slows the host's gate; the
// pauses are also kept here, under a lock, for the workers' PausedFor
// before a retry.
type signalBoard struct {
	keyMode  polite.HostKeyMode
	maxPause time.Duration
	ch       chan hostSignal

	mu     sync.Mutex
	paused map[string]time.Time
}

var _ hostsignal.Receiver = (*signalBoard)(nil)

func newSignalBoard(cfg FetchConfig) *signalBoard {
	return &signalBoard{keyMode: cfg.PerHostKey, maxPause: cfg.MaxHostPause,
		ch: make(chan hostSignal, cfg.Concurrency), paused: map[string]time.Time{}}
}

// SlowDown implements hostsignal.Receiver. The dispatcher takes every
// signal before the completion of the request that sent it.
func (s *signalBoard) SlowDown(ctx context.Context, rawURL string, _ int, retryAfter time.Duration) {
	key := polite.KeyOf(rawURL, s.keyMode)
	if key == "" {
		return
	}
	now := time.Now()
	if retryAfter > 0 && s.maxPause > 0 {
		s.notePause(key, now.Add(min(retryAfter, s.maxPause)))
	}
	if retryAfter == 0 {
		return // "retry now": neither a pause nor a reason to slow down
	}
	select {
	case s.ch <- hostSignal{key: key, retryAfter: retryAfter, at: now}:
	case <-ctx.Done():
	}
}

// notePause keeps key's pause until until, for PausedFor.
func (s *signalBoard) notePause(key string, until time.Time) {
	s.mu.Lock()
	if until.After(s.paused[key]) {
		s.paused[key] = until
	}
	s.mu.Unlock()
}

// PausedFor implements hostsignal.Receiver.
func (s *signalBoard) PausedFor(rawURL string) time.Duration {
	key := polite.KeyOf(rawURL, s.keyMode)
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.paused[key]
	if !ok {
		return 0
	}
	left := time.Until(until)
	if left <= 0 {
		delete(s.paused, key)
		return 0
	}
	return left
}

// sweep forgets the pauses that are over.
func (s *signalBoard) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, until := range s.paused {
		if !until.After(now) {
			delete(s.paused, key)
		}
	}
}

// workerSignals is one worker's hostsignal.Deferrer: the stage's board,
// and the retry that the worker's fetch handed back, if it did.
type workerSignals struct {
	*signalBoard
	deferOK  bool
	deferred *hostsignal.Resume
}

var _ hostsignal.Deferrer = (*workerSignals)(nil)

// Defer implements hostsignal.Deferrer: it takes the retry when the
// stage hands retries back (see requests.deferOK).
func (w *workerSignals) Defer(_ string, _ time.Duration, r hostsignal.Resume) bool {
	if !w.deferOK {
		return false
	}
	w.deferred = &r
	return true
}

// handedBack returns, and forgets, the retry handed back by the last fetch.
func (w *workerSignals) handedBack() *hostsignal.Resume {
	r := w.deferred
	w.deferred = nil
	return r
}

// pendingRetry is a retry handed back, kept by its batch until its host
// lets it go: how to resume it, and the time it waited for its host so far.
type pendingRetry struct {
	resume   hostsignal.Resume
	hostWait time.Duration
}
