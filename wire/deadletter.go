package wire

// DefaultDeadLetterSubject is where the JetStream mode sends the batches it
// gives up on.
const DefaultDeadLetterSubject = "fetch.dead"

// A message on the dead-letter subject is the batch as it was published
// (same data, same headers but the Nats-* ones: Nats-Msg-Id becomes
// "<stream>/<seq>/dead", and the original publish's conditions such as
// Nats-Expected-Stream are dropped), with these headers added, so it can
// be read, fixed and published again.
const (
	// HeaderDeadKind says why, as one word: DeadInvalidBatch,
	// DeadBatchTooLarge or DeadMaxDeliver.
	HeaderDeadKind = "Fetch-Dead-Kind"
	// HeaderDeadReason says why in words.
	HeaderDeadReason = "Fetch-Dead-Reason"
	// HeaderDeadStream and HeaderDeadSeq locate the batch in the input
	// stream; HeaderDeadDeliveries is how often it had been delivered.
	HeaderDeadStream     = "Fetch-Dead-Stream"
	HeaderDeadSeq        = "Fetch-Dead-Stream-Seq"
	HeaderDeadDeliveries = "Fetch-Dead-Deliveries"
	// HeaderDeadSummary is the batch's summary, as published on the
	// summaries subject (absent for a batch that never got one, such as
	// one handed in while shutting down on its last delivery).
	HeaderDeadSummary = "Fetch-Dead-Summary"
	// HeaderDeadSummaryError is present when that summary could not be
	// stored where the results go (the output stream stayed unavailable
	// past the retry bound, say): it says why, and the dead letter is then
	// the only record of how the batch ended.
	HeaderDeadSummaryError = "Fetch-Dead-Summary-Error"
	// HeaderDeadDataDropped is present when the batch's data was left out
	// because the dead letter would not fit in one message otherwise: the
	// data's size in bytes. HeaderDeadStream and HeaderDeadSeq still name
	// the batch. The summary goes first (then HeaderDeadSummary is absent
	// though the batch had one); the data only if that is not enough.
	HeaderDeadDataDropped = "Fetch-Dead-Data-Dropped"
)

// Values of HeaderDeadKind.
const (
	DeadInvalidBatch  = string(ErrInvalidBatch)  // the message could not be decoded
	DeadBatchTooLarge = string(ErrBatchTooLarge) // more URLs than the service's maximum
	DeadMaxDeliver    = string(ErrMaxDeliver)    // delivered MaxDeliver times without being completed
)
