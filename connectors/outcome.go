package connectors

import "time"

// outcome is how a batch ended at the sink, told to a settler that can do
// more with it than stages.Settler.Done's complete and reject.
type outcome struct {
	complete bool  // no result was cut short by a shutdown
	problem  error // why not every publish is confirmed; nil if all are
	// later is true when every publish that failed did so because the
	// output stream was unavailable past the retry bound: the batch
	// should come again, but not at once.
	later  bool
	reject error // the batch is not to be redelivered (see stages.Settler)
	// summary is the batch's summary as published; summaryErr why it is
	// not stored where the results go, nil if it is.
	summary    []byte
	summaryErr error
}

// outcomeSettler is a stages.Settler that takes an outcome; the Publisher
// prefers it to Done.
type outcomeSettler interface {
	settleOutcome(o outcome) error
}

// MaxHandBackDelay caps the delay before a batch handed back for want of
// an output stream is delivered again (see HandBackDelay).
const MaxHandBackDelay = 5 * time.Minute

// HandBackDelay is how long a batch whose output stream stayed
// unavailable past the retry bound waits before its next delivery, after
// its deliveries-th: the ack wait, doubled for each delivery before it,
// at most MaxHandBackDelay (and at least the ack wait). So --max-deliver
// counts the batch's own failures, not a long outage of the bus: with a
// 30s ack wait, 5 deliveries span 30s+1m+2m+4m of waiting besides the
// retry bounds.
func HandBackDelay(ackWait time.Duration, deliveries uint64) time.Duration {
	d := ackWait
	for i := uint64(1); i < deliveries && d < MaxHandBackDelay; i++ {
		d *= 2
	}
	return max(min(d, MaxHandBackDelay), ackWait)
}
