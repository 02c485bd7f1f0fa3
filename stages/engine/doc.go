// Package engine is fetchstream's fetch engine: the ordered,
// bounded-parallel Fetch Flow between the decode stage and the publisher
// (which runs the encode stage's Encoder; see Fetch), and nothing else.
// It takes *stages.Job and emits *stages.Fetched and *stages.Done; the
// elements, decode and encode live in package stages, which does not
// import this one.
//
// It is built in three layers under a dispatcher, read top-down; each
// layer adds one condition to "may this URL start now", and each file
// says where it is:
//
//	dispatcher        fetch.go (one goroutine owns all state; the semaphore
//	                  inFlight < Concurrency), workers.go (a worker per
//	                  request), filing.go (results into windows, out in
//	                  order; Done), outqueue.go (what waits for Out, and
//	                  its batch); fetchconfig.go (FetchConfig, Validate)
//	(1) window        window.go: per batch a ring of Window slots, drained
//	                  in index order
//	(2) fair share    scheduler.go, batch.go: stride flows by priority;
//	                  reserve.go, admission.go, lifetime.go, heldbudget.go
//	(3) politeness    politeness.go (the interface the layers above use),
//	                  hosts.go (its one implementation), lane.go, wake.go,
//	                  robots.go, signals.go, hostreport.go, fleet.go (what
//	                  it asks of a fleet of replicas: Fleet); the rules in
//	                  package stages/polite, the fleet in stages/fleet
//
// References run one way: the dispatcher → fair share → politeness →
// polite, and all of them → the window, which knows none of them.
// Politeness reaches a batch only through laneOwner (stir it; is its flow
// busy); the scheduler, the filer and the dispatcher ask politeness only
// through the politeness interface (politeness.go), whose heart is "may
// this URL go now, and if not, when" (nextInLane, nextWake); and hosts
// asks each gate's rules through polite.Gate: the same question (Wait),
// one went (Take), one ended (Release, Succeeded), what a host said
// (SlowDown, Pause).
//
// With no politeness and one batch, the engine is sourcegraph/conc's
// stream: a semaphore (inFlight < Concurrency in the dispatcher) and a
// ring (the batch's window, in window.go), each task's result written to
// its slot and drained in submit order by one goroutine. Cost then: per
// URL one hand-off to a worker and one back (a channel send each), O(1)
// in the ring, and one element into Out; the result is written once, by
// the fetcher, and moves by pointer from there to Out.
//
// Fair share adds O(log flows) per grant (a heap of flows by pass) and
// nothing per grant for batches with nothing to start; politeness adds,
// per URL, O(1) amortized for its lane and O(log) for a gate's timer,
// and nothing per grant for a URL its host holds (its lane is parked on
// the gate). A batch that only a pause could hold (no cap, pace or
// robots.txt applies to it) pays none of that until a host asks for a
// pause: it starts through its window alone, and the first pause attaches
// it from its lowest URL not started (see hosts.gated and
// scheduler.slowDown). TestSchedulerWorkPerGrantIsFlat and
// BenchmarkSchedulerNext hold the per-grant cost flat from 16 to 256
// active batches.
//
// Package stages/polite holds the politeness rules, which need no engine
// state: host keys (what counts as one host), a gate's cap, pace, pauses
// and slow-downs, robots.txt rules and Crawl-delay. It imports neither this
// package nor stages (the compiler keeps the direction), so stages'
// decode, beside this package, can ask it how a batch's URLs fall on
// hosts without depending on the engine.
package engine
