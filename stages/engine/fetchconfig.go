package engine

import (
	"math"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/polite"

	"github.com/fetchstream/fetchstream/wire"
)

// This file is the dispatcher's (see the package doc): the stage's
// configuration, its observers and its validation.

// ErrConfig is wrapped by the errors of NewFetch: stages.ErrConfig, the
// one sentinel of the stages' constructors.
var ErrConfig = stages.ErrConfig

// FetchConfig bounds the fetch stage.
type FetchConfig struct {
	// Concurrency is the global cap on requests in flight, across batches.
	Concurrency int
	// Window caps, per batch, the URLs started but not yet passed on: a
	// slow URL holds back at most Window-1 finished results behind it.
	Window int
	// MaxActive caps the batches in progress at once; further batches wait
	// in the input channel (and, behind it, in the source's buffers).
	// With MaxWaiting, a batch that only waits for its hosts (nothing in
	// flight, nothing it may start: see admission) does not count, and up
	// to MaxActive+MaxWaiting batches are admitted in all.
	MaxActive  int
	MaxWaiting int
	// OnWaiting, if set, is told the number of admitted batches that only
	// wait for their hosts whenever it changes, from the dispatcher: it
	// must not block. A source that holds messages until their batches
	// end lends them its credit (connectors.JetStreamSource.SetWaiting).
	OnWaiting func(waiting int)
	// MaxBatchTime is every batch's lifetime, from its Job.Start; 0: none.
	// When it runs out, what is left of the batch ends as timeout: URLs not
	// started without a request, requests in flight canceled, retries
	// waiting for their host given up (see batchLife).
	MaxBatchTime time.Duration
	// Reserve is how many of the Concurrency slots no flow may take while
	// it has a request in flight: one flow holds at most
	// Concurrency-Reserve, and the last Reserve slots go one per flow to
	// flows with nothing in flight, so a small batch starts at once while
	// up to Reserve flows hold all they may (see reserve.go). 0: none;
	// below Concurrency. DefaultReserve gives the service's default.
	Reserve int
	// MaxHeldBytes bounds the bytes of finished results the stage holds
	// behind slow heads and for the next stage (body, URL and a fixed
	// overhead each): past it, batches start only their heads until it
	// drains (see heldBudget). 0: no bound but the windows.
	MaxHeldBytes int64
	// HeldElsewhere, if set, reports bytes held further down the pipeline
	// (a publisher's gathered replies) that count against MaxHeldBytes
	// too. It is called by the dispatcher and must be cheap and safe for
	// concurrent use.
	HeldElsewhere func() int64

	// The per-host rules below count per host key (PerHostKey), across
	// batches, in this stage only unless Fleet shares them. A URL
	// that a rule holds waits in the scheduler, taking no slot, while URLs
	// after it (within the window) to other hosts start. Redirects count
	// against the first host.

	// PerHost caps requests in flight to one host; 0: no cap.
	PerHost int
	// PerHostRate paces requests to one host, in requests per second (a
	// token bucket of PerHostBurst; 0 is 1); 0: no pace. A job's
	// PerHostRate may lower it for the job. PerHostJitter (0 to 1) holds
	// the host for a random part, up to that fraction, of the interval
	// 1/rate after each request, so requests do not beat in step.
	PerHostRate   float64
	PerHostBurst  int
	PerHostJitter float64
	// PerHostKey says what counts as one host (see polite.ParseHostKeyMode);
	// "" is polite.HostKeyHost.
	PerHostKey polite.HostKeyMode
	// MaxHostPause caps the pause that a host's 429 or 503 with
	// Retry-After imposes on all requests to it; 0: hosts are not paused.
	// A 429 or 503 without Retry-After halves the host's PerHostRate,
	// which comes back an eighth at a time with each success.
	MaxHostPause time.Duration
	// Robots obeys robots.txt for every job (a job may ask for it alone
	// with its Robots field), for RobotsUserAgent ("" is "fetchstream"; a header value):
	// fetched once per site through the fetcher, which must then be a
	// RobotsFetcher, kept RobotsTTL (0: DefaultRobotsTTL), its Crawl-delay a pace
	// for the site. A disallowed URL fails as robots_disallowed without a
	// request.
	Robots          bool
	RobotsTTL       time.Duration
	RobotsUserAgent string

	// Fleet, if set, shares the per-host rules above with the other
	// replicas of a fleet (see Fleet): the caps (PerHost), paces
	// (PerHostRate, a job's, Crawl-delay) and pauses hold for all of them
	// together, and each robots.txt is fetched once for all.
	Fleet Fleet

	// Observer, if set, is told of every request (for metrics).
	Observer Observer
	// OnPanic, if set, is told of a fetcher that panicked; the URL ends as
	// unexpected_error either way, and its batch and the others go on.
	OnPanic stages.OnPanic
}

// Observer is told what the fetch stage does. Its methods are called from
// many goroutines at once and must return quickly.
type Observer interface {
	// RequestStarted is called as a URL's fetch starts.
	RequestStarted()
	// RequestFinished is called with the URL's result as its fetch ends.
	RequestFinished(r *wire.Result)
}

// HostObserver, when the Observer is one too, is also told of the URLs
// that wait on their hosts.
type HostObserver interface {
	// Refused is called with the result of a URL that ended without a
	// request (robots_disallowed), instead of RequestStarted and
	// RequestFinished.
	Refused(r *wire.Result)
	// RequestDeferred is called instead of RequestFinished when a URL's
	// retry was handed back to wait for its host's pause without a slot;
	// RequestStarted comes again when it resumes.
	RequestDeferred()
	// Hosts is called, from the dispatcher, about once a second while a
	// per-host rule is on, and once more when the waits are over.
	Hosts(HostStats)
}

// HostStats is what waits on hosts at one moment.
type HostStats struct {
	// Paused counts the hosts under a pause (429 or 503 with Retry-After).
	Paused int
	// Waiting counts the URLs held by their host's gates: its cap, pace,
	// pause or robots.txt (only URLs within their batch's window count).
	Waiting int
	// Top holds the hosts with the most waiting URLs, most first, at most
	// TopHosts of them.
	Top []HostWaiting
	// Fleet holds, with a Fleet, the paced, capped or paused hosts, at most
	// TopHosts of them, paused first, then by this replica's share.
	Fleet []HostFleet
}

// HostFleet is one host's politeness as a fleet shares it.
type HostFleet struct {
	Host string `json:"host"`
	// Pace is the host's pace for the whole fleet, in requests a second
	// (with this replica's slow-downs); absent: none (a host with only
	// a cap, or only a pause).
	Pace float64 `json:"pace,omitempty"`
	// Share is the part of it this replica took since the last report
	// (absent: none).
	Share float64 `json:"share,omitempty"`
	// Cap is the host's cap on requests in flight for the whole fleet
	// (--per-host; 0: none), and Permits how many of them this replica
	// may have in flight now (absent: none).
	Cap     int `json:"cap,omitempty"`
	Permits int `json:"permits,omitempty"`
	// PausedUntil is when a pause in force ends (zero: none), and
	// PausedBy the replica that saw the host ask for it.
	PausedUntil time.Time `json:"paused_until,omitzero"`
	PausedBy    string    `json:"paused_by,omitempty"`
}

// HostWaiting is one host and the URLs waiting on it.
type HostWaiting struct {
	Host    string `json:"host"`
	Waiting int    `json:"waiting"`
}

// TopHosts bounds HostStats.Top.
const TopHosts = 5

// Validate reports the first field of c that NewFetch would refuse, as a
// *wire.ConfigError naming it (wrapping ErrConfig), or nil; it does no
// I/O, so that a caller can check a configuration before it connects to
// anything. NewFetch also refuses Robots with a fetcher that is not a
// RobotsFetcher, which Validate cannot see.
func (c FetchConfig) Validate() error {
	// Each problem is a *wire.ConfigError naming the field as Go spells
	// it, wrapping ErrConfig, so that the service can name its own field
	// (and the CLI its flag). Rules: 0 means "none" or the default, as
	// each field's doc says; only what no meaning fits is refused.
	fail := func(field, format string, args ...any) error {
		return wire.NewConfigError(ErrConfig, field, format, args...)
	}
	switch {
	case c.Concurrency < 1:
		return fail("Concurrency", "must be at least 1, got %d", c.Concurrency)
	case c.Window < 1:
		return fail("Window", "must be at least 1, got %d", c.Window)
	case c.MaxActive < 1:
		return fail("MaxActive", "must be at least 1, got %d", c.MaxActive)
	case c.MaxWaiting < 0:
		return fail("MaxWaiting", "must not be negative, got %d", c.MaxWaiting)
	case c.MaxBatchTime < 0:
		return fail("MaxBatchTime", "must not be negative (0 means none), got %s", c.MaxBatchTime)
	case c.Reserve < 0 || c.Reserve >= c.Concurrency:
		return fail("Reserve", "must be from 0 (none) to Concurrency-1 (%d), got %d", c.Concurrency-1, c.Reserve)
	case c.MaxHeldBytes < 0:
		return fail("MaxHeldBytes", "must not be negative (0 means no bound but the windows), got %d", c.MaxHeldBytes)
	case c.PerHost < 0:
		return fail("PerHost", "must not be negative (0 means no per-host cap), got %d", c.PerHost)
	case c.PerHostRate < 0 || math.IsNaN(c.PerHostRate) || math.IsInf(c.PerHostRate, 0):
		return fail("PerHostRate", "must be a number of requests per second, 0 or more, got %g", c.PerHostRate)
	case c.PerHostBurst < 0:
		return fail("PerHostBurst", "must not be negative (0 means 1), got %d", c.PerHostBurst)
	case !(c.PerHostJitter >= 0 && c.PerHostJitter <= 1):
		return fail("PerHostJitter", "must be from 0 to 1, got %g", c.PerHostJitter)
	case c.MaxHostPause < 0:
		return fail("MaxHostPause", "must not be negative (0 means no pauses), got %s", c.MaxHostPause)
	case c.RobotsTTL < 0:
		return fail("RobotsTTL", "must not be negative (0 means the default, %s), got %s", DefaultRobotsTTL, c.RobotsTTL)
	case !wire.ValidHeaderValue(c.RobotsUserAgent):
		return fail("RobotsUserAgent", "must not hold a control character (CR, LF, ...)")
	}
	if _, err := polite.ParseHostKeyMode(string(c.PerHostKey)); err != nil {
		return fail("PerHostKey", "must be host or domain, got %q", c.PerHostKey)
	}
	return nil
}

// DefaultRobotsTTL is how long a robots.txt is kept when RobotsTTL is 0.
const DefaultRobotsTTL = time.Hour
