// Package fleet shares fetchstream's per-host politeness between the
// replicas of one fleet (those that consume one input subject) through
// two NATS JetStream key-value buckets: one pace per host, one pause per host,
// one robots.txt per site. It is the engine's Fleet (stages/engine): the
// fetch dispatcher asks it for leases and tells it of pauses without
// waiting, and hears back on Events.
//
// What it keeps, in the bucket fetchstream_polite_<fleet> (see Bucket),
// of small values only:
//
//	pace.<key>        the next start time a host's pace allows (GCRA): a
//	                  replica reads it, writes it on by k intervals with
//	                  the revision it read (optimistic concurrency, retried
//	                  on conflict) and spends the k slots itself; k follows
//	                  the replica's demand, at most half a second of the rate
//	pause.<host>      until when the host asked the fleet to wait, and which
//	                  replica saw it; every replica watches pause.>
//	slow.<host>       a 429 or 503 without Retry-After, when and who saw
//	                  it: the others halve their pace for the host too
//	replica.<name>    a replica's heartbeat: the fleet counts its replicas
//
// and in the bucket fetchstream_robots_<fleet> (see RobotsBucket), capped
// on its own, so that large robots.txt copies never crowd out the paces:
//
//	robots.<site>     a site's robots.txt (status, body, when fetched)
//	robotslock.<site> taken (create-only, with a TTL) by the replica that
//	                  fetches it; the others watch for the copy
//	cap.<host>        each replica's permits of the host's cap on requests
//	                  in flight (held, wanted, until when it counts),
//	                  written with the revision read; a replica takes what
//	                  the others do not hold, at most its fair share when
//	                  another wants more (see caps.go)
//
// Every value carries a per-message TTL, so the keys of hosts no one
// crawls any more go away, and each bucket is capped in bytes besides.
// Times are the replicas' clocks, which must agree (NTP). A value that
// does not decode is never trusted: a pace's is read as far ahead as is
// believed (see aheadBound), the others' are ignored. When the
// bucket refuses a lease (full, or not reachable) the replica paces the
// host on its own at the fleet's rate divided by the replicas it last
// counted (see localLease); when the robots bucket refuses, it fetches
// the site's robots.txt itself.
// Goroutines: leaseWorkers lease workers (leases asked wait in a queue,
// one per key), one per robots.txt in flight, a pause writer, a pause
// watcher, a heartbeat and a cap keeper, all ended by the context given
// to New.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/stages/engine"
)

// Config is what a fleet's replicas share and what this one is.
type Config struct {
	// Name names the fleet: replicas with the same Name share politeness.
	// The service uses its input subject (and queue group). Any string;
	// it is made bucket-legal (see Bucket).
	Name string
	// Replica names this replica in what it writes (who saw a pause).
	Replica string
	// Replicas is the bucket's number of replicas (--stream-replicas).
	Replicas int
	// MaxHostPause caps a pause read from the bucket, however far a
	// writer put it; 0: pauses are not shared.
	MaxHostPause time.Duration
	// MaxBytes caps the bucket of paces and pauses; 0: DefaultMaxBytes.
	MaxBytes int64
	// RobotsMaxBytes caps the bucket of robots.txt copies; 0:
	// DefaultRobotsMaxBytes.
	RobotsMaxBytes int64
	// Log is told of trouble with the bucket (nil: slog.Default()).
	Log *slog.Logger
	// SetupTimeout bounds the creation of the bucket; 0: 10s.
	SetupTimeout time.Duration
}

// DefaultMaxBytes and DefaultRobotsMaxBytes cap the buckets when
// Config.MaxBytes and Config.RobotsMaxBytes are 0.
const (
	DefaultMaxBytes       = 64 << 20
	DefaultRobotsMaxBytes = 64 << 20
)

const (
	// maxSmallValue bounds a value of the paces' bucket: a pause naming a
	// long host, JSON-escaped.
	maxSmallValue = 8 << 10
	// maxRobotsValue bounds a robots copy: a robots.txt (512 KiB) as
	// base64 in JSON.
	maxRobotsValue = 1 << 20
)

// Fleet is one replica's side of a fleet's shared politeness. Its
// methods are safe for concurrent use; Lease and Pause never block.
type Fleet struct {
	cfg          Config
	js           jetstream.JetStream
	kv           jetstream.KeyValue
	stream       jetstream.Stream
	prefix       string // the bucket's subject prefix, "$KV.<bucket>."
	robots       jetstream.KeyValue
	robotsPrefix string
	ctx          context.Context
	events       chan engine.FleetEvent
	log          *slog.Logger

	mu     sync.Mutex
	pauses map[string]time.Time  // to write, by host
	slows  map[string]time.Time  // slow-downs to write, by host
	wake   chan struct{}         // the pause writer's
	local  localPaces            // the next slot by key, when the bucket fails
	leases *leaseQueue           // asked, not made yet
	caps   map[string]*capDemand // this replica's demand per capped host
	// capWake wakes the cap goroutine; capReplicas is the replicas the last
	// cap read saw (for the share when the bucket fails).
	capWake     chan struct{}
	capReplicas atomic.Int64
	grants      atomic.Uint64 // the grants of permits sent, which number them

	fallbacks      atomic.Uint64 // leases made locally
	capFallbacks   atomic.Uint64 // cap shares made locally
	fellBack       atomic.Bool   // the last lease was made locally
	capsFellBack   atomic.Bool   // the last cap share was made locally
	robotsUnshared atomic.Bool   // the last robots.txt copy could not be written
	replicas       atomic.Int64  // replicas last counted (heartbeats), at least 1
	conflicts      atomic.Uint64 // lease writes retried on another's revision
}

var _ engine.Fleet = (*Fleet)(nil)

// Bucket is the name of name's bucket: fetchstream_polite_ and name with
// every character a bucket name cannot hold as '_'.
func Bucket(name string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	return "fetchstream_polite_" + clean
}

// RobotsBucket is the name of name's bucket of robots.txt copies: as
// Bucket, fetchstream_robots_ and name made bucket-legal.
func RobotsBucket(name string) string {
	return "fetchstream_robots_" + strings.TrimPrefix(Bucket(name), "fetchstream_polite_")
}

// ErrUnavailable wraps the errors of New when the server has no JetStream
// (or none with per-message TTLs): the replica is then polite on its own.
var ErrUnavailable = errors.New("fleet: JetStream key-value with per-message TTLs is not available")

// New creates (or joins) cfg's bucket, within cfg.SetupTimeout, and
// starts the fleet's goroutines, which end with ctx.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Fleet, error) {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.RobotsMaxBytes == 0 {
		cfg.RobotsMaxBytes = DefaultRobotsMaxBytes
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = 10 * time.Second
	}
	setupCtx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	bucket := Bucket(cfg.Name)
	kv, err := js.CreateOrUpdateKeyValue(setupCtx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "fetchstream: politeness shared by the replicas of " + cfg.Name,
		History: 1, MaxBytes: cfg.MaxBytes, MaxValueSize: maxSmallValue, Storage: jetstream.MemoryStorage,
		Replicas: max(cfg.Replicas, 1), LimitMarkerTTL: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrUnavailable, bucket, err)
	}
	robotsBucket := RobotsBucket(cfg.Name)
	robots, err := js.CreateOrUpdateKeyValue(setupCtx, jetstream.KeyValueConfig{
		Bucket: robotsBucket, Description: "fetchstream: robots.txt copies shared by the replicas of " + cfg.Name,
		History: 1, MaxBytes: cfg.RobotsMaxBytes, MaxValueSize: maxRobotsValue, Storage: jetstream.MemoryStorage,
		Replicas: max(cfg.Replicas, 1), LimitMarkerTTL: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrUnavailable, robotsBucket, err)
	}
	stream, err := js.Stream(setupCtx, "KV_"+bucket)
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrUnavailable, bucket, err)
	}
	f := &Fleet{cfg: cfg, js: js, kv: kv, stream: stream, prefix: "$KV." + bucket + ".", ctx: ctx,
		robots: robots, robotsPrefix: "$KV." + robotsBucket + ".",
		events: make(chan engine.FleetEvent, 64), log: cfg.Log,
		pauses: map[string]time.Time{}, slows: map[string]time.Time{}, wake: make(chan struct{}, 1), leases: newLeaseQueue(),
		caps: map[string]*capDemand{}, capWake: make(chan struct{}, 1)}
	for range leaseWorkers {
		go f.makeLeases()
	}
	f.replicas.Store(1)
	f.capReplicas.Store(1)
	go f.heartbeat()
	go f.writePauses()
	go f.keepCaps()
	go f.watchPauses()
	return f, nil
}

// Events implements engine.Fleet: leases and pauses, for the dispatcher.
func (f *Fleet) Events() <-chan engine.FleetEvent { return f.events }

// send hands e to the dispatcher, unless the fleet stops first.
func (f *Fleet) send(e engine.FleetEvent) {
	select {
	case f.events <- e:
	case <-f.ctx.Done():
	}
}

// Stats is what the fleet did so far: leases made from this replica's
// own pace because the bucket failed, lease writes retried because
// another replica wrote first, and the replicas last counted.
type Stats struct {
	Fallbacks    uint64
	Conflicts    uint64
	CapFallbacks uint64 // cap shares made by this replica alone
	Replicas     int
}

// Stats reports the fleet's counts.
func (f *Fleet) Stats() Stats {
	return Stats{Fallbacks: f.fallbacks.Load(), Conflicts: f.conflicts.Load(), CapFallbacks: f.capFallbacks.Load(),
		Replicas: int(f.replicas.Load())}
}
