package client

import (
	"cmp"
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
// a server older than 2.14, or an input subject that takes the
// schedules' subjects. The message says what to run instead.
var ErrSchedulesUnavailable = errors.New("message schedules are not available")

// ErrNoSchedule is wrapped by Unschedule when no schedule has the name.
var ErrNoSchedule = errors.New("no such schedule")

// ErrScheduleExists is wrapped by Schedule when the name is taken.
var ErrScheduleExists = errors.New("a schedule of that name exists")

// ScheduleInfo is one schedule as Schedules reads it back.
type ScheduleInfo struct {
	Name    string
	Spec    string // "@every 1m0s", "@hourly", or a cron expression
	Target  string // the input subject the batch goes to
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
// another's), and must fit one message and WithMaxBatch. A name in use
// is refused (ErrScheduleExists): Unschedule it first.
//
// The input stream holds the schedule, as a message on
// wire.ScheduleSubject: a stream the service created holds schedules; an
// older one is updated once to hold them (the account needs the right to
// update it). In core mode, or on a server older than 2.14, Schedule
// fails with ErrSchedulesUnavailable, saying what to run instead.
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
	stream, err := c.scheduleStream(ctx, true)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	msg := &nats.Msg{Subject: wire.ScheduleSubject(stream.CachedInfo().Config.Name, name), Data: data, Header: nats.Header{
		wire.HeaderSchedule: {spec}, wire.HeaderScheduleTarget: {c.in}}}
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
	stream, err := c.scheduleStream(ctx, false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	name := stream.CachedInfo().Config.Name
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(wire.SchedulesSubjects(name)))
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
		s := ScheduleInfo{Name: strings.TrimPrefix(subject, wire.ScheduleSubject(name, "")), Subject: subject,
			Spec: m.Header.Get(wire.HeaderSchedule), Target: m.Header.Get(wire.HeaderScheduleTarget), Added: m.Time}
		_ = json.Unmarshal(m.Data, &s.Batch) // shown in brief; a batch the service refuses shows as it can
		s.Next = nextEvery(s.Spec, m.Time, time.Now())
		out = append(out, s)
	}
	return out, nil
}

// Unschedule removes the schedule name (a purge of its subject): the
// server publishes it no more. A name with no schedule is ErrNoSchedule.
func (c *Client) Unschedule(ctx context.Context, name string) error {
	if err := wire.ValidScheduleName(name); err != nil {
		return err
	}
	stream, err := c.scheduleStream(ctx, false)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	subject := wire.ScheduleSubject(stream.CachedInfo().Config.Name, name)
	if _, err := stream.GetLastMsgForSubject(ctx, subject); errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: %q", ErrNoSchedule, name)
	} else if err != nil {
		return fmt.Errorf("remove schedule %s: %w", name, err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("remove schedule %s: %w", name, err)
	}
	return nil
}

// scheduleStream is the input stream, made to hold schedules when enable
// is set and it does not yet. Core mode, an old server, or an input
// subject that takes the schedules' subjects is ErrSchedulesUnavailable.
func (c *Client) scheduleStream(ctx context.Context, enable bool) (jetstream.Stream, error) {
	name, err := c.inputStream(ctx)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: no JetStream stream captures %s (the service runs in core mode, or has not started): schedules live in the input stream, so run the service with --jetstream; or else repeat the batch from outside, e.g. cron running `fetchstream publish`", ErrSchedulesUnavailable, c.in)
	}
	if v := c.nc.ConnectedServerVersion(); !serverAtLeast(v, 2, 14) {
		return nil, fmt.Errorf("%w: the NATS server is %s, and message schedules need 2.14 or later: upgrade it, or repeat the batch from outside, e.g. cron running `fetchstream publish`", ErrSchedulesUnavailable, v)
	}
	ctx, cancel := withDefaultTimeout(ctx, publishTimeout)
	defer cancel()
	stream, err := c.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("input stream %s: %w", name, err)
	}
	cfg := stream.CachedInfo().Config
	pattern := wire.SchedulesSubjects(name)
	for _, s := range cfg.Subjects {
		if s != pattern && subjectsCollide(s, pattern) {
			return nil, fmt.Errorf("%w: the stream %s captures %q, which takes the schedules' subjects %s: the service would read the schedules as batches", ErrSchedulesUnavailable, name, s, pattern)
		}
	}
	if !enable || cfg.AllowMsgSchedules && slices.Contains(cfg.Subjects, pattern) {
		return stream, nil
	}
	if err := noConsumerTakes(ctx, stream, pattern); err != nil {
		return nil, err
	}
	cfg.Subjects = append(cfg.Subjects, pattern)
	if slices.Contains(cfg.Subjects[:len(cfg.Subjects)-1], pattern) {
		cfg.Subjects = cfg.Subjects[:len(cfg.Subjects)-1]
	}
	cfg.AllowMsgSchedules, cfg.AllowRollup = true, true
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("%w: could not let the input stream %s hold schedules (capture %s, allow message schedules): %v", ErrSchedulesUnavailable, name, pattern, err)
	}
	return c.js.Stream(ctx, name)
}

// noConsumerTakes refuses to let stream hold schedules while one of its
// consumers would read their subjects (no filter, or one that takes
// pattern): it would take each schedule as a batch, and, the stream being
// a work queue, remove it. The service's own consumer filters its input
// subject.
func noConsumerTakes(ctx context.Context, stream jetstream.Stream, pattern string) error {
	consumers := stream.ListConsumers(ctx)
	for info := range consumers.Info() {
		filters := info.Config.FilterSubjects
		if info.Config.FilterSubject != "" {
			filters = append(filters, info.Config.FilterSubject)
		}
		takes := len(filters) == 0
		for _, f := range filters {
			takes = takes || subjectsCollide(f, pattern)
		}
		if takes {
			return fmt.Errorf("%w: the consumer %s of stream %s reads %v, which takes the schedules' subjects %s: it would read each schedule as a batch; give it a filter subject (the input subject) first",
				ErrSchedulesUnavailable, info.Name, info.Stream, cmp.Or(strings.Join(filters, " "), "every subject"), pattern)
		}
	}
	if err := consumers.Err(); err != nil {
		return fmt.Errorf("list the consumers of stream %s: %w", stream.CachedInfo().Config.Name, err)
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
