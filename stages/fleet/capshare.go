package fleet

import (
	"encoding/json"
	"time"
)

// This file is the arithmetic of a host's cap shared by a fleet: how
// many of the cap's permits a replica may use and must hold, given what
// the others hold and want, as read from the host's key. Pure functions:
// the unit tests hold them.

// capEntry is one replica's part of a host's cap: the permits it holds
// (never fewer than it has requests in flight), the requests it wants in
// flight (in flight and waiting), and until when the entry counts, in
// Unix nanoseconds: a replica that stops refreshing it gives its permits
// back when it passes.
type capEntry struct {
	Held  int   `json:"held"`
	Want  int   `json:"want"`
	Until int64 `json:"until"`
}

// capValue is a cap key's value: the entries by replica.
type capValue map[string]capEntry

// decodeCap reads a cap key's value: nil for what does not decode (a
// delete marker, what another writer spoiled), which is then written over.
func decodeCap(data []byte) capValue {
	var v capValue
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	return v
}

// liveOthers is the entries of v other than self's that count at now:
// those whose Until has not passed, with Until cut to now+capLife at most
// (a replica whose clock runs a little ahead is counted all the same, and
// a broken or hostile writer that claims more holds nothing for longer
// than capLife: the cut Until is what is written back), and Held and Want
// bounded to 0..limit.
func liveOthers(v capValue, self string, limit int, now time.Time) capValue {
	out := capValue{}
	latest := now.Add(capLife).UnixNano()
	for replica, e := range v {
		if replica == self || !time.Unix(0, e.Until).After(now) {
			continue
		}
		out[replica] = capEntry{Held: min(max(e.Held, 0), limit), Want: min(max(e.Want, 0), limit), Until: min(e.Until, latest)}
	}
	return out
}

// capShare is what a replica may use of a cap of limit in flight (use:
// its gate's cap) and must hold (hold: what it writes, use or more while
// more are in flight), given the others' live entries, the requests it
// wants in flight (want) and has (inFlight). It takes what the others do
// not hold, up to its want; and when another wants more than it holds,
// at most the fair share, ceil(limit / replicas that want any), so that
// the others' permits come back to them as this replica's requests end.
func capShare(limit int, others capValue, want, inFlight int) (use, hold int) {
	if limit <= 0 {
		return 0, 0
	}
	want, inFlight = min(max(want, 0), limit), min(max(inFlight, 0), limit)
	held, wanting, starved := 0, 0, false
	if want > 0 {
		wanting++
	}
	for _, e := range others {
		held += e.Held
		if e.Want > 0 {
			wanting++
		}
		starved = starved || e.Want > e.Held
	}
	use = min(want, max(limit-held, 0))
	if starved {
		use = min(use, (limit+wanting-1)/max(wanting, 1))
	}
	return use, max(use, inFlight)
}

// fallbackShare is a replica's part of a cap of limit when the fleet's
// bucket cannot be reached: the cap divided by the replicas it knows of,
// at least 1.
func fallbackShare(limit, replicas int) int {
	return max(limit/max(replicas, 1), 1)
}
