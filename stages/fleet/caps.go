package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/fetchstream/fetchstream/stages/engine"
)

// This file is the fleet's cap per host (--per-host for the fleet): the
// permits of a host's cap are leased from its key, cap.<host>, whose
// value holds each replica's entry (capEntry), written with the revision
// read (optimistic concurrency, retried on conflict) by one goroutine,
// never the dispatcher's. A round for a host reads the key, works out
// this replica's share (capShare) and writes its entry when it changed or
// is due again (a heartbeat every capBeat while it holds or wants any; an
// entry counts for capLife after its write, so a replica that dies gives
// its permits back within capLife). Its use goes to the dispatcher as a
// numbered grant (a FleetEvent with Granted); permits taken back stay in
// the entry until the dispatcher's demand says it saw the grant, since
// until then it may start requests on them. Rounds run when the dispatcher's demand for a
// host changes (at most one every capGap), every capPoll while it wants
// more than it has (a read, no write), and every capBeat while it holds
// any; capRounds of them at once, so many capped hosts slow no one host's
// grants by more than their share. Cost: nothing for a host with no cap;
// for a capped host, a read and mostly a write per round, one round per
// capGap at most.

const (
	capBeat      = time.Second
	capLife      = 3 * time.Second
	capPoll      = 100 * time.Millisecond
	capGap       = 10 * time.Millisecond
	capKeyLife   = time.Minute
	capRoundTime = 500 * time.Millisecond // bounds one round's reads and writes, well under capLife-capBeat
	capRounds    = 16                     // rounds at once, each for another host
)

// capDemand is this replica's demand for one host's cap, as the
// dispatcher last told it (limit, want, inFlight, the last grant it
// applied, seen; dirty: not yet worked on), and what the rounds made of
// it: the last grant sent (its number and use) and ceiling, the most
// permits of a grant from seen on, which the dispatcher may use before it
// applies the next: the entry holds at least that many, so permits taken
// back are written back only once the dispatcher has seen it. A grant the
// dispatcher never sees (its gate was forgotten before it came) stops
// counting when it says so (seen engine.GateForgotten), or at the latest
// capLife after it was sent while the dispatcher wants nothing and has
// nothing in flight.
type capDemand struct {
	limit, want, inFlight int
	seen                  uint64
	dirty                 bool
	use, hold             int
	wrote                 time.Time // the entry's last write
	grant                 uint64    // the last grant sent; 0: none
	unseen                time.Time // when the first grant not yet seen was sent; zero: all seen
	ceiling               int
}

// Demand implements engine.Fleet: it files the demand and wakes the cap
// goroutine, without waiting.
func (f *Fleet) Demand(host string, limit, inFlight, waiting int, seen uint64) {
	f.mu.Lock()
	d := f.caps[host]
	if d == nil {
		d = &capDemand{}
		f.caps[host] = d
	}
	d.limit, d.inFlight, d.want, d.seen, d.dirty = limit, inFlight, inFlight+waiting, seen, true
	switch {
	case seen == engine.GateForgotten:
		d.ceiling, d.unseen = 0, time.Time{}
	case seen >= d.grant:
		d.ceiling, d.unseen = d.use, time.Time{}
	}
	f.mu.Unlock()
	select {
	case f.capWake <- struct{}{}:
	default:
	}
}

// keepCaps runs the cap rounds until the fleet's context ends: when
// woken, and every capPoll while any host has a demand (none: it waits
// for a wake alone).
func (f *Fleet) keepCaps() {
	for {
		var poll <-chan time.Time
		if f.anyCaps() {
			poll = time.After(capPoll)
		}
		select {
		case <-f.ctx.Done():
			return
		case <-f.capWake:
		case <-poll:
		}
		var rounds errgroup.Group
		rounds.SetLimit(capRounds)
		for _, host := range f.capsDue(time.Now()) {
			rounds.Go(func() error { f.capRound(host); return nil })
		}
		_ = rounds.Wait()
		select {
		case <-time.After(capGap):
		case <-f.ctx.Done():
			return
		}
	}
}

// anyCaps reports whether any host has a demand filed.
func (f *Fleet) anyCaps() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.caps) > 0
}

// capsDue lists the hosts that need a round at now.
func (f *Fleet) capsDue(now time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var due []string
	for host, d := range f.caps {
		if d.dirty || d.use < min(d.want, d.limit) || (d.hold > 0 || d.want > 0) && now.Sub(d.wrote) >= capBeat {
			due = append(due, host)
		}
	}
	return due
}

// capRound works out and writes this replica's share of host's cap,
// holding at least the permits the dispatcher may still use, and grants
// them to it when they changed or it has not seen the last grant.
func (f *Fleet) capRound(host string) {
	f.mu.Lock()
	d := f.caps[host]
	if d.want == 0 && d.inFlight == 0 && !d.unseen.IsZero() && time.Since(d.unseen) > capLife {
		d.ceiling = 0 // a grant unseen this long went to a gate that is gone
	}
	limit, want, inFlight, floor := d.limit, d.want, d.inFlight, d.ceiling
	d.dirty = false
	f.mu.Unlock()

	ctx, cancel := context.WithTimeout(f.ctx, capRoundTime)
	use, hold, wrote, err := f.writeCap(ctx, host, limit, want, max(inFlight, floor))
	cancel()
	if err != nil {
		if f.ctx.Err() != nil {
			return
		}
		use = min(want, fallbackShare(limit, int(f.capReplicas.Load())))
		hold = max(use, inFlight, floor)
		f.capFallbacks.Add(1)
		if f.capsFellBack.CompareAndSwap(false, true) {
			f.log.Warn("fleet politeness: a host's cap could not be shared, this replica keeps its part of it on its own until the bucket answers",
				"host", host, "error", err)
		}
	} else if f.capsFellBack.CompareAndSwap(true, false) {
		f.log.Info("fleet politeness: the bucket answers again, hosts' caps are shared by the fleet", "host", host)
	}
	f.mu.Lock()
	var grant uint64
	if d.grant == 0 || d.use != use || d.seen < d.grant { // changed, or not seen (a gate made anew)
		grant = f.grants.Add(1)
		d.grant, d.ceiling = grant, max(d.ceiling, use)
		if d.unseen.IsZero() {
			d.unseen = time.Now()
		}
	}
	d.use, d.hold = use, hold
	if wrote {
		d.wrote = time.Now()
	}
	if !d.dirty && d.want == 0 && hold == 0 {
		delete(f.caps, host)
	}
	f.mu.Unlock()
	if grant > 0 {
		f.send(engine.FleetEvent{Host: host, Granted: true, Permits: use, Grant: grant})
	}
}

// writeCap reads host's cap key, works out this replica's share and
// writes its entry (wrote) unless it is the same as written less than
// capBeat ago, or there is none and nothing to hold.
func (f *Fleet) writeCap(ctx context.Context, host string, limit, want, inFlight int) (use, hold int, wrote bool, err error) {
	subject := f.prefix + kvKey("cap", host)
	for attempt := range leaseTries {
		var seq uint64
		var v capValue
		msg, err := f.stream.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return 0, 0, false, err
		default:
			seq, v = msg.Sequence, decodeCap(msg.Data)
		}
		now := time.Now()
		others := liveOthers(v, f.cfg.Replica, limit, now)
		f.capReplicas.Store(int64(len(others) + 1))
		use, hold = capShare(limit, others, want, inFlight)
		mine, had := v[f.cfg.Replica]
		if !had && hold == 0 && want == 0 ||
			had && mine.Held == hold && mine.Want == want && time.Unix(0, mine.Until).Sub(now) > capLife-capBeat {
			return use, hold, false, nil
		}
		if hold > 0 || want > 0 {
			others[f.cfg.Replica] = capEntry{Held: hold, Want: want, Until: now.Add(capLife).UnixNano()}
		}
		value, _ := json.Marshal(others)
		_, err = f.js.Publish(ctx, subject, value, jetstream.WithExpectLastSequencePerSubject(seq), jetstream.WithMsgTTL(capKeyLife))
		if err == nil {
			return use, hold, true, nil
		}
		if !wrongLastSequence(err) {
			return 0, 0, false, err
		}
		f.conflicts.Add(1)
		select {
		case <-time.After(rand.N(time.Millisecond << min(attempt, 5))):
		case <-ctx.Done():
			return 0, 0, false, ctx.Err()
		}
	}
	return 0, 0, false, errors.New("too many conflicting writers")
}
