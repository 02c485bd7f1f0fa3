package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fetchstream/fetchstream/wire"
)

// Sentinel errors. The errors the client returns wrap one of them (or a
// context error, or a NATS error) with what it was doing; test with
// errors.Is.
var (
	// ErrConfig: an option of New is invalid.
	ErrConfig = errors.New("fetchstream client: invalid configuration")
	// ErrInvalidBatch: the batch would be refused by the service (no
	// URLs, an id over wire.MaxIDLength bytes, a priority out of range, a
	// URL too long for one NATS message...), so it is not published.
	ErrInvalidBatch = errors.New("fetchstream client: invalid batch")
	// ErrDuplicate: a batch with this id was published to the JetStream
	// stream on the input subject within its duplicate window (the stream
	// may have removed it since), so it dropped this one and the service
	// will not run it again.
	ErrDuplicate = errors.New("fetchstream client: duplicate batch id")
	// ErrNoService: nothing seems to consume the input subject (see
	// Client.Ping for how this is told). The error is a *NoServiceError,
	// which says why and what stores the batches, if anything.
	ErrNoService = errors.New("fetchstream client: no service consumes the input subject")
	// ErrWaitTimeout: the wait timeout (WithWaitTimeout) passed before
	// every batch ended.
	ErrWaitTimeout = errors.New("fetchstream client: wait timeout")
	// ErrLeftStream: in JetStream mode, a batch no longer in the input
	// stream (the service ended it, and a work-queue stream removed it)
	// had not ended for this wait: its summary passed while the client
	// could not receive it, most likely while the connection was down.
	// Nothing more will come for it; the error says where its end can be
	// read. A silent wait asks the stream every WithSilenceNotice period
	// (else every 10 s).
	ErrLeftStream = errors.New("fetchstream client: batch left the stream without its end reaching this wait")
	// ErrSlowConsumer: NATS dropped messages of the results or summaries
	// subject for this client because it did not read them fast enough
	// (see WithBuffer). Which batches they were of cannot be known, and
	// they cannot come back, so any drop ends the wait.
	ErrSlowConsumer = errors.New("fetchstream client: slow consumer, messages dropped")
	// ErrIncomplete: a batch's summary came but some of its results did
	// not (they went missing between the service and this client).
	ErrIncomplete = errors.New("fetchstream client: results missing before the summary")
	// ErrUsed: a Stream's Results was called a second time.
	ErrUsed = errors.New("fetchstream client: stream already consumed")
)

// BatchError says that the service ended one batch without fetching it
// (its summary has an Error): for example wire.ErrBatchTooLarge when the
// batch holds more URLs than the service's maximum. It concerns that batch
// only; the other batches of a split list go on.
type BatchError struct {
	ID      string         // the batch id as sent
	Kind    wire.ErrorKind // the summary's error
	Message string         // the summary's message
	// First and Count locate the batch in the whole list: its URLs are
	// positions First to First+Count-1.
	First, Count int
	Summary      wire.Summary // as the service published it
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch %s (positions %d-%d) rejected by the service: %s: %s",
		e.ID, e.First, e.First+e.Count-1, e.Kind, e.Message)
}

// joined is an error that errors.Is and errors.As see as each of errs but
// that reads as msg: one sentence for an error of two kinds, where
// fmt.Errorf("%w; %w") would say the package's prefix twice.
type joined struct {
	msg  string
	errs []error
}

func (e *joined) Error() string   { return e.msg }
func (e *joined) Unwrap() []error { return e.errs }

// invalid is err (from wire) under kind, with what it says between:
// "kind: what: err", err's own leading "prefix: " cut, so that the
// error reads "invalid batch" once. errors.Is sees kind and err.
func invalid(kind error, what string, err, prefix error) error {
	if what != "" {
		what += ": "
	}
	text := strings.TrimPrefix(err.Error(), prefix.Error()+": ")
	return &joined{msg: fmt.Sprintf("%v: %s%s", kind, what, text), errs: []error{kind, err}}
}

// NoServiceError says why no service seems to take the batches of the
// input subject; errors.Is(err, ErrNoService) holds for it. Its message
// speaks of the client's settings (WithSubject); a command line tool can
// say the same in its own flags from the fields.
type NoServiceError struct {
	Subject string // the input subject (WithSubject)
	// Stream is the JetStream stream that captures Subject and stores the
	// batches until a service consumes them, "" when none does: then a
	// batch published with no service is lost.
	Stream string
	// Dropped: NATS said that nothing subscribes to Subject (no
	// responders), so the batch published there is gone.
	Dropped bool
	// Others are the input subjects that fetchstream services read,
	// when they read others than Subject.
	Others []string
}

func (e *NoServiceError) Error() string {
	var why string
	switch {
	case e.Stream != "":
		why = fmt.Sprintf("stream %s stores the batches but no consumer pulls them (is `fetchstream run --jetstream` running?): "+
			"they stay stored, and are fetched when a `fetchstream run --jetstream` starts (to drop them instead: `nats stream purge -f %s`, which drops every batch it holds)",
			e.Stream, e.Stream)
	case e.Dropped && len(e.Others) > 0:
		why = fmt.Sprintf("nothing subscribes to it, so NATS dropped the batch; fetchstream services read %s (WithSubject)", strings.Join(e.Others, ", "))
	case e.Dropped:
		why = "nothing subscribes to it and no stream captures it, so NATS dropped the batch (is `fetchstream run` running?)"
	case len(e.Others) > 0:
		why = fmt.Sprintf("fetchstream services answer, but they read %s", strings.Join(e.Others, ", "))
	default:
		why = fmt.Sprintf("no micro service %s answers and no stream captures it (is `fetchstream run` running?)", ServiceName)
	}
	return fmt.Sprintf("%v %s: %s", ErrNoService, e.Subject, why)
}

// Unwrap makes errors.Is(err, ErrNoService) hold.
func (e *NoServiceError) Unwrap() error { return ErrNoService }
