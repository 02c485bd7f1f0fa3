// Package engine is fetchstream's fetch engine: the ordered,
// bounded-parallel Fetch Flow between the decode and encode stages (see
// Fetch), and nothing else. It takes *stages.Job and emits *stages.Fetched
// and *stages.Done; the elements, decode and encode live in package
// stages, which does not import this one.
//
// It is built in three layers, read top-down; each adds one condition to
// "may this URL start now", and each file says which layer it is in:
//
//	dispatcher (fetch.go, workers.go)   one goroutine owns all state; a worker per request
//	  │ inFlight < Concurrency           the semaphore
//	  ▼
//	1. ordered window (window.go, outqueue.go)
//	  │ per batch: a ring of Window slots; results leave in index order
//	  ▼
//	2. fair share (scheduler.go, reserve.go, admission.go, lifetime.go, heldbudget.go)
//	  │ stride flows by priority; a reserve for flows with nothing in flight;
//	  │ waiting batches do not count as busy; lifetimes; a held-bytes budget
//	  ▼
//	3. politeness (gate.go, lane.go, hostgates.go, robots.go, signals.go, wake.go,
//	  │            hostreport.go; rules in package polite)
//	  │ the engine asks a gate "may a URL go now, and if not, when" (Wait),
//	  │ tells it one went (Take) and one ended (Release, Succeeded), and a
//	  │ host's "slow down" reaches it as a signal (SlowDown, a pause)
//	  ▼
//	worker ─ URLFetcher.Do ─▶ completion ─▶ dispatcher files it in its window
//
// With no politeness and one batch, the engine is sourcegraph/conc's
// stream: a semaphore (inFlight < Concurrency in the dispatcher) and a
// ring (the batch's window, in window.go), each task's result written to
// its slot and drained in submit order by one goroutine. Cost then: per
// URL one hand-off to a worker and one back (a channel send each), O(1)
// in the ring, and one element into Out.
//
// Fair share adds O(log flows) per grant (a heap of flows by pass) and
// nothing per grant for batches with nothing to start; politeness adds,
// per URL, O(1) amortized for its lane and O(log) for a gate's timer,
// and nothing per grant for a URL its host holds (its lane is parked on
// the gate). TestSchedulerWorkPerGrantIsFlat and BenchmarkSchedulerNext
// hold the per-grant cost flat from 16 to 256 active batches.
//
// Package polite holds the politeness rules that need no engine state:
// host keys (what counts as one host), Crawl-delay bounds. It imports
// neither this package nor stages, so stages' decode can ask it how a
// batch's URLs fall on hosts.
package engine
