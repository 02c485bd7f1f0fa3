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
// for the host until the same instant. Cost: one write per pause seen,
// one watch per replica; the dispatcher hears of each pause once per
// replica.

// pauseValue is a pause key's value.
type pauseValue struct {
	Host  string `json:"host"`
	Until int64  `json:"until"` // Unix nanoseconds
	By    string `json:"by"`
}

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

// writePauses writes the pauses that Pause gathered, until the context ends.
func (f *Fleet) writePauses() {
	for {
		select {
		case <-f.wake:
		case <-f.ctx.Done():
			return
		}
		f.mu.Lock()
		pauses := f.pauses
		f.pauses = map[string]time.Time{}
		f.mu.Unlock()
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
		w, err := f.kv.Watch(f.ctx, "pause.>", jetstream.IgnoreDeletes())
		if err == nil {
			for entry := range w.Updates() {
				if entry == nil {
					continue // the values already there have all come
				}
				if e, ok := f.pauseEvent(entry); ok {
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
