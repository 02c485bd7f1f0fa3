package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// ErrSchedulesUnavailable is wrapped by Schedule's refusal where message
// schedules cannot be: core mode (no stream captures the input subject),
// a server older than 2.14, an input stream that takes the schedules'
// subjects, or one whose schedules go to another input subject. The
// message says what to run instead.
var ErrSchedulesUnavailable = errors.New("message schedules are not available")

// ErrNoSchedule is wrapped by Unschedule when no schedule has the name.
var ErrNoSchedule = errors.New("no such schedule")

// ErrScheduleExists is wrapped by Schedule when the name is taken.
var ErrScheduleExists = errors.New("a schedule of that name exists")

// ScheduleInfo is one schedule as Schedules reads it back.
type ScheduleInfo struct {
	Name    string
	Spec    string // "@every 1m0s", "@hourly", or a cron expression
	Target  string // the input subject the batch goes to (the client's, WithSubject)
	Subject string // the schedule message's subject
	// Added is when the schedule was added; Next, for an "@every"
	// schedule, the first whole interval after Added that is still to
	// come, which is when the server fires it, give or take the second it
	// rounds to (after a server restart it starts counting again); zero
	// for cron.
	Added, Next time.Time
	Batch       wire.Batch
}

// Schedule adds the schedule name: the server publishes b to the
// client's input subject (WithSubject) as spec says (see
// wire.ValidScheduleSpec: "@every 1m", or a cron expression with
// seconds), from now on, across restarts of the service and of every
// server, until Unschedule. b is checked as Send checks it and takes the
// client's request defaults; it may not carry an id (each run gets its
// own, "<stream>-<sequence>", so the results of one run never shadow
// another's), and must fit one message and WithMaxBatch. Its Poll, when
// empty, is name: the schedule keeps change state of its own. A name in use
// is refused (ErrScheduleExists): Unschedule it first.
//
// The schedule is a message on wire.ScheduleSubject in the input
// stream's schedules stream (wire.SchedulesStream), which the first
// Schedule creates; it also makes the input stream source the schedules'
// runs into its input subject (the account needs the rights to create
// and update streams). The input stream itself never allows schedules,
// roll-ups or schedule purges: a publisher of batches cannot wipe them.
// In core mode, or on a server older than 2.14, Schedule fails with
// ErrSchedulesUnavailable, saying what to run instead.
func (c *Client) Schedule(ctx context.Context, name, spec string, b wire.Batch) error {
	if err := wire.ValidScheduleName(name); err != nil {
		return err
	}
	if err := wire.ValidScheduleSpec(spec); err != nil {
		return err
	}
	if wire.ValidSubject(c.in, false) != nil {
		return fmt.Errorf("%w: the input subject %q is a pattern: give the subject batches go to (WithSubject, --in)", wire.ErrBadSchedule, c.in)
	}
	b = withRequestDefaults(b, c.request)
	if b.Poll == "" {
		b.Poll = name // the schedule's change state is its own
	}
	switch {
	case b.ID != "":
		return fmt.Errorf("%w: a scheduled batch may not carry an id (%q): each run gets its own", ErrInvalidBatch, b.ID)
	case len(b.URLs) == 0:
		return fmt.Errorf("%w: no URLs", ErrInvalidBatch)
	case len(b.URLs) > c.maxBatch:
		return fmt.Errorf("%w: %d URLs, over the %d of one batch: a schedule publishes one batch", ErrInvalidBatch, len(b.URLs), c.maxBatch)
	}
	if b.TimeoutMS == 0 && c.timeout > 0 {
		b.TimeoutMS = c.timeout.Milliseconds()
	}
	data, err := encode(b, c.nc.MaxPayload()-4096)
	if err != nil {
		return err
	}
	input, _, err := c.scheduleStreams(ctx, true)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: wire.ScheduleSubject(input, name), Data: data, Header: nats.Header{
		wire.HeaderSchedule: {spec}, wire.HeaderScheduleTarget: {wire.ScheduleRunSubject(input, name)},
		wire.HeaderScheduleTTL: {wire.ScheduleRunTTL(spec)}}}
	_, err = c.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return fmt.Errorf("%w: %q: remove it first (fetchstream schedule rm %s)", ErrScheduleExists, name, name)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageSchedulesDisabled:
		return fmt.Errorf("%w: the stream %s does not allow them (a server older than 2.14?): %v", ErrSchedulesUnavailable, msg.Subject, err)
	case err != nil:
		return fmt.Errorf("add schedule %s: %w", name, err)
	}
	return nil
}

// Schedules lists the input stream's schedules, by name. In core mode
// it fails with ErrSchedulesUnavailable.
func (c *Client) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	input, stream, err := c.scheduleStreams(ctx, false)
	if err != nil || stream == nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	name := stream.CachedInfo().Config.Name
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(wire.ScheduleNamesSubjects(input)))
	if err != nil {
		return nil, fmt.Errorf("list schedules in stream %s: %w", name, err)
	}
	subjects := make([]string, 0, len(info.State.Subjects))
	for s := range info.State.Subjects {
		subjects = append(subjects, s)
	}
	slices.Sort(subjects)
	out := make([]ScheduleInfo, 0, len(subjects))
	for _, subject := range subjects {
		m, err := stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read schedule %s: %w", subject, err)
		}
		s := ScheduleInfo{Name: strings.TrimPrefix(subject, wire.ScheduleSubject(input, "")), Subject: subject,
			Spec: m.Header.Get(wire.HeaderSchedule), Target: c.in, Added: m.Time}
		_ = json.Unmarshal(m.Data, &s.Batch) // shown in brief; a batch the service refuses shows as it can
		s.Next = nextEvery(s.Spec, m.Time, time.Now())
		out = append(out, s)
	}
	return out, nil
}

// Unschedule removes the schedule name (a purge of its subject, and of
// its last run not yet taken in): the server publishes it no more. A
// name with no schedule is ErrNoSchedule.
func (c *Client) Unschedule(ctx context.Context, name string) error {
	if err := wire.ValidScheduleName(name); err != nil {
		return err
	}
	input, stream, err := c.scheduleStreams(ctx, false)
	if err != nil {
		return err
	}
	if stream == nil {
		return fmt.Errorf("%w: %q", ErrNoSchedule, name)
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	subject := wire.ScheduleSubject(input, name)
	if _, err := stream.GetLastMsgForSubject(ctx, subject); errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSchedule, name)
	} else if err != nil {
		return fmt.Errorf("remove schedule %s: %w", name, err)
	}
	for _, s := range []string{subject, wire.ScheduleRunSubject(input, name)} {
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject(s)); err != nil {
			return fmt.Errorf("remove schedule %s: %w", name, err)
		}
	}
	return nil
}

// scheduleStreams is the name of the input stream and its schedules
// stream (nil when absent and create is not set). With create, the
// schedules stream is made if absent and the input stream made to source
// its runs into c's input subject. Core mode, an old server, or an input
// stream that takes the schedules' subjects is ErrSchedulesUnavailable.
func (c *Client) scheduleStreams(ctx context.Context, create bool) (string, jetstream.Stream, error) {
	name, err := c.inputStream(ctx)
	if err != nil {
		return "", nil, err
	}
	if name == "" {
		return "", nil, fmt.Errorf("%w: no JetStream stream captures %s (the service runs in core mode, or has not started): schedules run into the input stream, so run the service with --jetstream; or else repeat the batch from outside, e.g. cron running `fetchstream publish`", ErrSchedulesUnavailable, c.in)
	}
	if v := c.nc.ConnectedServerVersion(); !serverAtLeast(v, 2, 14) {
		return "", nil, fmt.Errorf("%w: the NATS server is %s, and message schedules need 2.14 or later: upgrade it, or repeat the batch from outside, e.g. cron running `fetchstream publish`", ErrSchedulesUnavailable, v)
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	input, err := c.js.Stream(ctx, name)
	if err != nil {
		return "", nil, fmt.Errorf("input stream %s: %w", name, err)
	}
	cfg := input.CachedInfo().Config
	pattern := wire.SchedulesSubjects(name)
	for _, s := range cfg.Subjects {
		if subjectsCollide(s, pattern) {
			return "", nil, fmt.Errorf("%w: the stream %s captures %q, which takes the schedules' subjects %s", ErrSchedulesUnavailable, name, s, pattern)
		}
	}
	schedules, err := c.js.Stream(ctx, wire.SchedulesStream(name))
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && !create:
		return name, nil, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		schedules, err = c.createSchedulesStream(ctx, name, cfg.Replicas)
	}
	if err != nil {
		return "", nil, fmt.Errorf("schedules stream %s: %w", wire.SchedulesStream(name), err)
	}
	if create {
		if err := c.sourceRuns(ctx, cfg); err != nil {
			return "", nil, err
		}
	}
	return name, schedules, nil
}

// createSchedulesStream makes the schedules stream of the input stream
// named input: it allows message schedules (and so roll-ups and purges,
// which only those who may publish on its subjects can use) and message
// TTLs (a run lives as long as its schedule says), and keeps one message
// per subject: each schedule and its last run.
func (c *Client) createSchedulesStream(ctx context.Context, input string, replicas int) (jetstream.Stream, error) {
	stream, err := c.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              wire.SchedulesStream(input),
		Description:       "fetchstream schedules of the input stream " + input + ", and their last runs, which the input stream sources",
		Subjects:          []string{wire.SchedulesSubjects(input)},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Storage:           jetstream.FileStorage,
		Replicas:          max(replicas, 1),
		AllowMsgSchedules: true,
		AllowRollup:       true,
		AllowMsgTTL:       true,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return c.js.Stream(ctx, wire.SchedulesStream(input))
	}
	return stream, err
}

// sourceRuns makes the input stream (cfg) source the runs of its
// schedules, their subjects turned into c's input subject, and honour
// their per-message TTL (wire.HeaderScheduleTTL: a run no service takes
// in time expires), unless it does already. One that sources them into
// another subject is refused: the schedules of one input stream all go
// to one input subject.
//
// Allowing message TTLs lets a publisher of batches give its own batch a
// Nats-TTL too: that batch may expire unfetched, no other is touched.
// The server cannot turn it off again.
func (c *Client) sourceRuns(ctx context.Context, cfg jetstream.StreamConfig) error {
	from := wire.SchedulesStream(cfg.Name)
	sourced := false
	for _, src := range cfg.Sources {
		if src == nil || src.Name != from {
			continue
		}
		for _, t := range src.SubjectTransforms {
			if t.Destination != c.in {
				return fmt.Errorf("%w: the input stream %s takes the runs of its schedules into %s, not %s: add schedules with --in %s", ErrSchedulesUnavailable, cfg.Name, t.Destination, c.in, t.Destination)
			}
		}
		sourced = true
	}
	if sourced && cfg.AllowMsgTTL {
		return nil
	}
	if !sourced {
		cfg.Sources = append(slices.Clone(cfg.Sources), &jetstream.StreamSource{Name: from, SubjectTransforms: []jetstream.SubjectTransformConfig{
			{Source: wire.ScheduleRunsSubjects(cfg.Name), Destination: c.in}}})
	}
	cfg.AllowMsgTTL = true
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("%w: could not make the input stream %s source the runs of its schedules from %s: %v", ErrSchedulesUnavailable, cfg.Name, from, err)
	}
	return nil
}

// nextEvery is when an "@every D" schedule added at added fires next
// after now, as the server reckons it (whole seconds, skipping runs
// missed while it was down); zero for any other spec.
func nextEvery(spec string, added, now time.Time) time.Time {
	d, err := time.ParseDuration(strings.TrimPrefix(spec, "@every "))
	if !strings.HasPrefix(spec, "@every ") || err != nil || d <= 0 {
		return time.Time{}
	}
	next := added.UTC().Round(time.Second).Add(d)
	if next.Before(now) {
		next = next.Add(now.Sub(next).Truncate(d) + d)
	}
	return next
}

// serverAtLeast reports whether the server version ("2.15.2") is at
// least major.minor; an unreadable one is not.
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (ma > major || ma == major && mi >= minor)
}

// subjectsCollide reports whether a message could match both patterns
// (as connectors.SubjectsCollide, which this package may not import).
func subjectsCollide(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) || i == len(bt):
			return len(at) == len(bt)
		case at[i] == ">" || bt[i] == ">":
			return true
		case at[i] == "*" || bt[i] == "*" || at[i] == bt[i]:
			continue
		default:
			return false
		}
	}
}
