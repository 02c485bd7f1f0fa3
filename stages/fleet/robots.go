package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// This file is a site's robots.txt, fetched once for the fleet: the
// first replica to need it takes robotslock.<site> (create-only, with a
// TTL; let go by a purge marker with a TTL), fetches it and writes
// robots.<site>; the others wait for that copy, a bounded time, then
// fetch it themselves. Cost: a read per fetch
// the engine starts, and a write per site and TTL.

// robotsValue is a robots key's value.
type robotsValue struct {
	Origin    string         `json:"origin"`
	Status    int            `json:"status"`
	Body      []byte         `json:"body,omitempty"`
	Failure   wire.ErrorKind `json:"failure,omitempty"`
	FetchedAt int64          `json:"fetched_at"` // Unix nanoseconds
}

const (
	// maxRobotsBody is the cap a fetcher keeps (engine.RobotsFetcher):
	// a copy with more is not trusted.
	maxRobotsBody = 512 << 10
	// robotsWait bounds the wait for another replica's fetch: its own
	// bound (10 s) and some.
	robotsWait = 15 * time.Second
)

// Robots implements engine.Fleet.
func (f *Fleet) Robots(ctx context.Context, origin string, ttl time.Duration, fetch func() polite.RobotsFetch) polite.RobotsFetch {
	key := kvKey("robots", origin)
	if r, ok := f.freshRobots(ctx, key, origin, ttl); ok {
		return r
	}
	lock := kvKey("robotslock", origin)
	if rev, err := f.robots.Create(ctx, lock, []byte(f.cfg.Replica), jetstream.KeyTTL(robotsWait)); err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
		defer f.releaseLock(ctx, lock, rev)
		if r, ok := f.freshRobots(ctx, key, origin, ttl); ok { // written while the lock was being taken
			return r
		}
		return f.fetchRobots(ctx, key, origin, ttl, fetch)
	}
	if r, ok := f.awaitRobots(ctx, key, origin, ttl); ok {
		return r
	}
	return f.fetchRobots(ctx, key, origin, ttl, fetch)
}

// fetchRobots fetches origin's robots.txt and shares it, unless the
// fetch was canceled.
func (f *Fleet) fetchRobots(ctx context.Context, key, origin string, ttl time.Duration, fetch func() polite.RobotsFetch) polite.RobotsFetch {
	r := fetch()
	if r.Failure == wire.ErrCanceled || ctx.Err() != nil {
		return r
	}
	value, _ := json.Marshal(robotsValue{Origin: origin, Status: r.Status, Body: r.Body, Failure: r.Failure, FetchedAt: time.Now().UnixNano()})
	life := max(polite.RobotsKeep(r, ttl), time.Second).Truncate(time.Second)
	_, err := f.js.Publish(ctx, f.robotsPrefix+key, value, jetstream.WithMsgTTL(life))
	switch {
	case err != nil && ctx.Err() == nil && f.robotsUnshared.CompareAndSwap(false, true):
		f.log.Warn("fleet politeness: a robots.txt could not be shared; until one can, replicas may each fetch a site's robots.txt",
			"site", origin, "error", err)
	case err == nil && f.robotsUnshared.CompareAndSwap(true, false):
		f.log.Info("fleet politeness: robots.txt copies are shared again", "site", origin)
	}
	return r
}

// lockMarkerTTL is how long the marker that releases a robots lock stays.
const lockMarkerTTL = time.Second

// releaseLock lets go of a robots lock taken at rev (0: the lock was not
// taken, there is nothing to release): a purge marker with a TTL, and
// only while the lock is still this replica's. A plain delete would leave
// a marker without a TTL, for ever, one per site: a bucket full of them
// at some 400k sites.
func (f *Fleet) releaseLock(ctx context.Context, lock string, rev uint64) {
	if rev == 0 || ctx.Err() != nil {
		return // the lock's own TTL ends it
	}
	_ = f.robots.Purge(ctx, lock, jetstream.LastRevision(rev), jetstream.PurgeTTL(lockMarkerTTL))
}

// freshRobots reads the fleet's copy: ok when there is one for origin
// that decodes and is fresh for ttl.
func (f *Fleet) freshRobots(ctx context.Context, key, origin string, ttl time.Duration) (polite.RobotsFetch, bool) {
	entry, err := f.robots.Get(ctx, key)
	if err != nil {
		return polite.RobotsFetch{}, false
	}
	return readRobots(entry.Value(), origin, ttl, time.Now())
}

// awaitRobots watches for the copy another replica is fetching, at most
// robotsWait.
func (f *Fleet) awaitRobots(ctx context.Context, key, origin string, ttl time.Duration) (polite.RobotsFetch, bool) {
	ctx, cancel := context.WithTimeout(ctx, robotsWait)
	defer cancel()
	w, err := f.robots.Watch(ctx, key, jetstream.IgnoreDeletes())
	if err != nil {
		return polite.RobotsFetch{}, false
	}
	defer func() { _ = w.Stop() }()
	for entry := range w.Updates() {
		if entry == nil {
			continue
		}
		if r, ok := readRobots(entry.Value(), origin, ttl, time.Now()); ok {
			return r, true
		}
	}
	return polite.RobotsFetch{}, false
}

// readRobots decodes a copy: ok when it is origin's, within the body cap,
// and fresh at now for ttl; its Age is how old it is.
func readRobots(data []byte, origin string, ttl time.Duration, now time.Time) (polite.RobotsFetch, bool) {
	var v robotsValue
	if json.Unmarshal(data, &v) != nil || v.Origin != origin || len(v.Body) > maxRobotsBody || v.Failure != "" && !slices.Contains(wire.URLErrorKinds(), v.Failure) {
		return polite.RobotsFetch{}, false
	}
	r := polite.RobotsFetch{Status: v.Status, Body: v.Body, Failure: v.Failure}
	age := now.Sub(time.Unix(0, v.FetchedAt))
	if age < 0 || age >= polite.RobotsKeep(r, ttl) {
		return polite.RobotsFetch{}, false
	}
	r.Age = age
	return r, true
}
