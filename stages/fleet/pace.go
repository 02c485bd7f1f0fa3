package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// This file is the fleet's pace per key: GCRA on one bucket key. A lease
// of n slots costs one read and one conditional write (more on a
// conflict), by one of the lease workers (leases.go); the dispatcher
// spends the slots.

// paceValue is a pace key's value: the earliest time the next request
// may start, in Unix nanoseconds.
type paceValue struct {
	Next int64 `json:"next"`
}

const (
	maxLease    = 1000 // slots in one lease, whatever is asked
	leaseTries  = 16   // conditional writes before the lease is made locally
	paceKeyLife = time.Minute
	// minAhead and aheadIntervals bound how far ahead of now a pace key is
	// believed (see aheadBound).
	minAhead       = 10 * time.Second
	aheadIntervals = 64
)

// aheadBound is how far ahead of now a pace key's next slot is believed:
// the larger of minAhead and aheadIntervals intervals, past what a fleet
// of replicas leases ahead (each at most half a second of the rate, or
// one slot). A stored time later than that is clamped to it, never
// started over: a broken or hostile writer can delay a host by at most
// the bound, and never make two replicas' slots overlap.
func aheadBound(interval time.Duration) time.Duration {
	return max(minAhead, aheadIntervals*interval)
}

// maxInterval caps a pace's interval, so that aheadBound stays within a
// Duration: a rate under one a month is one a month.
const maxInterval = 30 * 24 * time.Hour

// lease reserves n slots of key's pace: nil only when ctx ended.
func (f *Fleet) lease(ctx context.Context, key string, perSecond float64, burst, n int) []time.Time {
	if perSecond <= 0 {
		return nil
	}
	n = min(max(n, 1), maxLease)
	interval := time.Duration(min(float64(time.Second)/perSecond, float64(maxInterval)))
	interval = max(interval, time.Nanosecond)
	subject := f.prefix + kvKey("pace", key)
	for attempt := range leaseTries {
		var next time.Time
		var seq uint64
		msg, err := f.stream.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return f.localLease(ctx, key, interval, burst, n, err)
		default:
			seq = msg.Sequence
			var v paceValue
			switch {
			case len(msg.Data) == 0: // a delete marker: the key was idle
			case json.Unmarshal(msg.Data, &v) == nil && v.Next > 0:
				next = time.Unix(0, v.Next)
			default: // spoiled by another writer: as far ahead as is believed
				next = time.Now().Add(aheadBound(interval))
			}
		}
		now := time.Now()
		if limit := now.Add(aheadBound(interval)); next.After(limit) {
			next = limit
		}
		got, after := gcra(next, now, interval, burst, n)
		value, _ := json.Marshal(paceValue{Next: after.UnixNano()})
		life := paceKeyLife + after.Sub(now)
		_, err = f.js.Publish(ctx, subject, value, jetstream.WithExpectLastSequencePerSubject(seq), jetstream.WithMsgTTL(life.Truncate(time.Second)))
		if err == nil {
			if f.fellBack.CompareAndSwap(true, false) {
				f.log.Info("fleet politeness: the bucket gives leases again, hosts are paced by the fleet", "key", key)
			}
			return got
		}
		if !wrongLastSequence(err) {
			return f.localLease(ctx, key, interval, burst, n, err)
		}
		f.conflicts.Add(1)
		// Another replica wrote first: try again after a random pause that
		// grows, so that replicas in step fall out of it.
		select {
		case <-time.After(rand.N(time.Millisecond << min(attempt, 5))):
		case <-ctx.Done():
			return nil
		}
	}
	return f.localLease(ctx, key, interval, burst, n, errors.New("too many conflicting writers"))
}

// gcra spends n requests of a pace of one per interval with a bucket of
// burst, given stored, the pace's theoretical arrival time (zero: none):
// their start times, and the new stored time. A request may start at
// its arrival time less the bucket's tolerance, (burst-1) intervals, and
// not before now.
func gcra(stored, now time.Time, interval time.Duration, burst, n int) ([]time.Time, time.Time) {
	tat := stored
	if now.After(tat) {
		tat = now
	}
	tolerance := time.Duration(max(burst, 1)-1) * interval
	out := make([]time.Time, n)
	for i := range out {
		at := tat.Add(time.Duration(i)*interval - tolerance)
		if at.Before(now) {
			at = now
		}
		out[i] = at
	}
	return out, tat.Add(time.Duration(n) * interval)
}

// localLease makes a lease from this replica's own pace for key, when the
// bucket cannot give one: the fleet's rate divided by the replicas last
// counted (heartbeats, see members.go), so that replicas which all fall
// back keep to the rate together, and one alone crawls slower than it
// might. Each change between the bucket's leases and local ones is
// logged, once.
func (f *Fleet) localLease(ctx context.Context, key string, interval time.Duration, burst, n int, cause error) []time.Time {
	if ctx.Err() != nil {
		return nil
	}
	f.fallbacks.Add(1)
	replicas := max(f.replicas.Load(), 1)
	if f.fellBack.CompareAndSwap(false, true) {
		f.log.Warn("fleet politeness: a lease failed, this replica paces hosts on its own at the fleet's rate divided by the replicas it counted, until the bucket answers",
			"key", key, "replicas", replicas, "error", cause)
	}
	interval = time.Duration(min(float64(interval)*float64(replicas), float64(maxInterval)))
	return f.local.spend(key, time.Now(), interval, burst, n)
}

func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
