package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/wire/client"
)

// explainNoService is err said in publish's terms (--in, the commands
// to run) when it is the client's *client.NoServiceError, else err.
// errors.Is and errors.As still see err.
func explainNoService(err error, in string) error {
	var none *client.NoServiceError
	if !errors.As(err, &none) {
		return err
	}
	fix := "start the service (`fetchstream run`) and publish again"
	if len(none.Others) > 0 {
		fix = fmt.Sprintf("the services read %s: publish with --in %s", strings.Join(none.Others, ", "), none.Others[0])
	}
	var msg string
	switch {
	case none.Stream != "":
		msg = fmt.Sprintf("stream %s stores the batches of --in %s, but no service consumes it: they stay stored, and the next `fetchstream run --jetstream` fetches them (to drop them instead: `nats stream purge -f %s`, which drops every batch it holds)",
			none.Stream, in, none.Stream)
	case none.Dropped:
		msg = fmt.Sprintf("nothing reads --in %s and no stream stores it, so NATS dropped the batch; %s", in, fix)
	default:
		msg = fmt.Sprintf("no fetchstream service answers for --in %s and no stream stores it, so nothing will fetch the batch; %s", in, fix)
	}
	return &renamedErr{err: err, msg: msg}
}

// waitingFor says how long publish --wait waits on.
func waitingFor(waitTimeout time.Duration) string {
	if waitTimeout == 0 {
		return "until interrupted (--wait-timeout 0)"
	}
	return fmt.Sprintf("up to --wait-timeout %s", waitTimeout)
}

// silenceEvery is how often publish --wait says what it waits for while
// nothing comes: every 10 s, or a third of --wait-timeout when that is
// shorter, but not more often than once a second.
func silenceEvery(waitTimeout time.Duration) time.Duration {
	every := 10 * time.Second
	if waitTimeout > 0 {
		every = min(every, max(waitTimeout/3, time.Second))
	}
	return every
}

// silenceLine says what a quiet wait is on, and how long it goes on.
func silenceLine(s client.Silence, waitTimeout time.Duration) string {
	what := "batch " + s.First
	if s.Batches > 1 {
		what = fmt.Sprintf("%d of %d batches (from %s)", s.Batches-s.Done, s.Batches, s.First)
	}
	var why string
	switch {
	case s.Reconnecting:
		why = "the connection to NATS is down; reconnecting"
	case s.Taken:
		why = fmt.Sprintf("a service took %s from stream %s and has not answered since: it is being fetched, or, if that service stopped, JetStream delivers it again within the consumer's AckWait (%s) of its last sign of life",
			what, s.Stream, s.AckWait)
	case s.Held:
		why = fmt.Sprintf("%s waits in stream %s for a service to take it", what, s.Stream)
	case s.Stream != "":
		why = fmt.Sprintf("%s went to stream %s (whether a service took it could not be told)", what, s.Stream)
	default:
		why = fmt.Sprintf("%s went out on core NATS, and no service has answered for it yet", what)
	}
	left := "until interrupted (--wait-timeout 0)"
	if waitTimeout > 0 {
		left = fmt.Sprintf("giving up in %s (--wait-timeout %s)", s.Left.Round(time.Second), waitTimeout)
	}
	return fmt.Sprintf("nothing for %s: %s; waiting, %s", s.For.Round(time.Second), why, left)
}

// interrupted is the error of a wait that was interrupted (Ctrl-C): the
// batches go on without it.
func interrupted(s *client.Stream) error {
	batches := s.Batches()
	done := len(s.Summaries())
	what := "batch " + batches[0].ID + " goes"
	if len(batches) > 1 {
		what = fmt.Sprintf("%d of its %d batches (from %s) go", len(batches)-done, len(batches), batches[0].ID)
	}
	return fmt.Errorf("wait interrupted: %s on in the service, whose results no one follows now (`fetchstream watch` shows results and summaries as they pass)", what)
}

// optionalInt is an int flag that may be left unset: -h shows no default
// for it (the usage says what unset means).
type optionalInt struct {
	n   int
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.n)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	o.n, o.set = n, true
	return nil
}

// Get makes the flag read as an int (settings.Explain says the form).
func (o *optionalInt) Get() any { return o.n }
