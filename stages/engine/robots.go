package engine

import (
	"context"
	"time"

	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/polite"

	"github.com/fetchstream/fetchstream/wire"
)

// This file is part of layer 3, politeness (see the package doc): the
// fetches of sites' robots.txt, beside the workers (the rules are
// polite.Robots). Cost: one fetch per site and TTL, in a goroutine of its
// own.

// RobotsFetcher is a URLFetcher that can also fetch a site's robots.txt,
// through the same client (so the same network policy and User-Agent):
// *httpfetch.Fetcher is one. FetchRobots returns the final status and at
// most the first 512 KiB of the body, or, when no response came, the
// kind of failure.
type RobotsFetcher interface {
	FetchRobots(ctx context.Context, robotsURL string, timeout time.Duration) (status int, body []byte, failure wire.ErrorKind)
}

// robotsTimeout bounds a robots.txt fetch.
const robotsTimeout = 10 * time.Second

// robotsAgent is the User-Agent whose robots.txt rules apply to job's
// URLs: the job's own, when it names one, else the stage's.
func robotsAgent(job *stages.Job, stage string) string {
	if job.Options != nil && job.Options.UserAgent != "" {
		return job.Options.UserAgent
	}
	return stage
}

// robotsResult is a fetched robots.txt on its way to the dispatcher.
type robotsResult struct {
	gate *gate
	polite.RobotsFetch
}

// robotsFetches fetches sites' robots.txt, each in a goroutine of its
// own beside the workers: at most Concurrency at once, and they take no
// worker slot. The results go to done, which the dispatcher reads; it
// counts the fetches under way (pending) and so is there to take each.
type robotsFetches struct {
	ctx     context.Context
	fetcher RobotsFetcher
	sem     chan struct{}
	done    chan robotsResult
	onPanic stages.OnPanic
	fleet   Fleet         // nil: each fetch is this replica's own
	ttl     time.Duration // how long a fleet's copy is fresh
	pending int           // the dispatcher's
}

func newRobotsFetches(ctx context.Context, fetcher RobotsFetcher, cfg FetchConfig, onPanic stages.OnPanic) *robotsFetches {
	return &robotsFetches{ctx: ctx, fetcher: fetcher, sem: make(chan struct{}, cfg.Concurrency), done: make(chan robotsResult),
		onPanic: onPanic, fleet: cfg.Fleet, ttl: cfg.RobotsTTL}
}

// start fetches g's robots.txt; its result comes on done.
func (r *robotsFetches) start(g *gate) {
	r.pending++
	robotsURL := g.Robots().Origin + "/robots.txt"
	go func() {
		res := robotsResult{gate: g}
		if r.fleet != nil {
			res.RobotsFetch = r.fleet.Robots(r.ctx, g.Robots().Origin, r.ttl, func() polite.RobotsFetch { return r.fetch(robotsURL) })
		} else {
			res.RobotsFetch = r.fetch(robotsURL)
		}
		r.done <- res
	}()
}

// fetch fetches robotsURL within the bound on fetches at once.
func (r *robotsFetches) fetch(robotsURL string) (res polite.RobotsFetch) {
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-r.ctx.Done():
		return polite.RobotsFetch{Failure: wire.ErrCanceled}
	}
	// A panic in the fetch reads as no response (the site's rules, not a
	// URL's result, are what it spoils: Index -1), logged and counted as
	// the fetch stage's, as a fetcher's panic is.
	defer stages.Recover(r.onPanic, func(any) stages.Panic {
		res.Failure = wire.ErrUnexpected
		return stages.Panic{Stage: "fetch", Index: -1, URL: robotsURL}
	})
	res.Status, res.Body, res.Failure = r.fetcher.FetchRobots(r.ctx, robotsURL, robotsTimeout)
	return res
}
