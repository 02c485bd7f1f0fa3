package fleet

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/engine"
)

// This file is the fleet's pauses: a host's 429 or 503 with Retry-After,
// written by the replica that saw it as pause.<host> (until when, and
// who), and watched by every replica (pause.>), which pauses its own gate
// for the host until the same instant; and its slow-downs (a 429 or 503
// without Retry-After), written as slow.<host> (when, and who), on which
// the other replicas halve their pace for the host as the one that saw
// it did. Cost: one write per pause or slow-down seen, one watch per
// replica; the dispatcher hears of each once per replica.

// pauseValue is a pause key's value, and a slow-down key's (Until is
// then when it was seen).
type pauseValue struct {
	Host  string `json:"host"`
	Until int64  `json:"until"` // Unix nanoseconds
	By    string `json:"by"`
}

// slowFresh is how old a slow-down may be when a replica reads it: one
// written before a replica started is not its to follow.
const slowFresh = 2 * time.Second

const (
	maxPauseBy   = 64   // bytes of a replica name kept from a value
	maxHostKey   = 1024 // a host key longer than this in a value is ignored
	rewatchAfter = time.Second
)

// Pause implements engine.Fleet: the pause is written in the background
// (the latest until per host, when several come before it is written).
func (f *Fleet) Pause(host string, until time.Time) {
	if f.cfg.MaxHostPause <= 0 {
		return
	}
	f.mu.Lock()
	if until.After(f.pauses[host]) {
		f.pauses[host] = until
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default: // it is awake already, and will see this one
	}
}

// SlowDown implements engine.Fleet: written in the background, as Pause.
func (f *Fleet) SlowDown(host string) {
	f.mu.Lock()
	f.slows[host] = time.Now()
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// writePauses writes the pauses that Pause gathered, and the slow-downs,
// until the context ends.
func (f *Fleet) writePauses() {
	for {
		select {
		case <-f.wake:
		case <-f.ctx.Done():
			return
		}
		f.mu.Lock()
		pauses, slows := f.pauses, f.slows
		f.pauses, f.slows = map[string]time.Time{}, map[string]time.Time{}
		f.mu.Unlock()
		for host, at := range slows {
			value, _ := json.Marshal(pauseValue{Host: host, Until: at.UnixNano(), By: f.cfg.Replica})
			if _, err := f.js.Publish(f.ctx, f.prefix+kvKey("slow", host), value, jetstream.WithMsgTTL(10*time.Second)); err != nil && f.ctx.Err() == nil {
				f.log.Warn("fleet politeness: a slow-down could not be shared", "host", host, "error", err)
			}
		}
		for host, until := range pauses {
			value, _ := json.Marshal(pauseValue{Host: host, Until: until.UnixNano(), By: f.cfg.Replica})
			life := max(time.Until(until)+time.Second, time.Second).Truncate(time.Second) + time.Second
			if _, err := f.js.Publish(f.ctx, f.prefix+kvKey("pause", host), value, jetstream.WithMsgTTL(life)); err != nil && f.ctx.Err() == nil {
				f.log.Warn("fleet politeness: a pause could not be shared; the other replicas learn of it from the host", "host", host, "error", err)
			}
		}
	}
}

// watchPauses hands every pause written (by any replica, this one too) to
// the dispatcher, watching again after a failure, until the context ends.
func (f *Fleet) watchPauses() {
	for f.ctx.Err() == nil {
		w, err := f.kv.WatchFiltered(f.ctx, []string{"pause.>", "slow.>"}, jetstream.IgnoreDeletes())
		if err == nil {
			for entry := range w.Updates() {
				if entry == nil {
					continue // the values already there have all come
				}
				e, ok := f.pauseEvent(entry)
				if strings.HasPrefix(entry.Key(), "slow.") {
					e, ok = f.slowEvent(entry)
				}
				if ok {
					f.send(e)
				}
			}
			_ = w.Stop()
		}
		select {
		case <-time.After(rewatchAfter):
		case <-f.ctx.Done():
		}
	}
}

// pauseEvent reads a pause key's entry: not ok when it does not decode,
// names a host other than its key's, or is over; its end is capped at
// MaxHostPause from now, whoever wrote it.
func (f *Fleet) pauseEvent(entry jetstream.KeyValueEntry) (engine.FleetEvent, bool) {
	var v pauseValue
	if json.Unmarshal(entry.Value(), &v) != nil || v.Host == "" || len(v.Host) > maxHostKey || kvKey("pause", v.Host) != entry.Key() {
		return engine.FleetEvent{}, false
	}
	now := time.Now()
	until := time.Unix(0, v.Until)
	if !until.After(now) {
		return engine.FleetEvent{}, false
	}
	if limit := now.Add(f.cfg.MaxHostPause); until.After(limit) {
		until = limit
	}
	by := v.By
	if len(by) > maxPauseBy {
		by = strings.ToValidUTF8(by[:maxPauseBy], "")
	}
	return engine.FleetEvent{Host: v.Host, PausedUntil: until, PausedBy: by}, true
}

// slowEvent reads a slow-down key's entry: not ok when it does not
// decode, names a host other than its key's, is this replica's own, or
// is older than slowFresh.
func (f *Fleet) slowEvent(entry jetstream.KeyValueEntry) (engine.FleetEvent, bool) {
	var v pauseValue
	if json.Unmarshal(entry.Value(), &v) != nil || v.Host == "" || len(v.Host) > maxHostKey || kvKey("slow", v.Host) != entry.Key() ||
		v.By == f.cfg.Replica {
		return engine.FleetEvent{}, false
	}
	if age := time.Since(time.Unix(0, v.Until)); age > slowFresh || age < -slowFresh {
		return engine.FleetEvent{}, false
	}
	return engine.FleetEvent{Host: v.Host, SlowedDown: true}, true
}
