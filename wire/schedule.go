package wire

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A recurring batch is a NATS message schedule (ADR-51, nats-server 2.14
// and later) kept in a stream of its own beside the input stream, never
// in the input stream: schedules need the stream to allow roll-ups and
// purges, which would let any publisher of batches wipe the input. The
// schedules stream of input stream STREAM is SchedulesStream(STREAM); it
// captures SchedulesSubjects(STREAM). The schedule NAME is a message on
// ScheduleSubject(STREAM, NAME) holding the batch, with HeaderSchedule
// (the spec) and HeaderScheduleTarget = ScheduleRunSubject(STREAM, NAME),
// a subject of the same stream (the server requires it). The input
// stream sources ScheduleRunsSubjects(STREAM) from it, with a subject
// transform to its input subject: each run reaches the service as a
// batch on the input subject, carrying HeaderScheduler (the schedule's
// subject). Removing the schedule's message (a purge of its subject) ends
// the schedule.

// SchedulesPrefix begins the subjects of schedules and their runs: the
// schedules stream of input stream STREAM captures
// "fetchstream.schedules.STREAM.>", the schedule NAME is on
// "fetchstream.schedules.STREAM.NAME" and its runs on
// "fetchstream.schedules.STREAM.NAME.run".
const SchedulesPrefix = "fetchstream.schedules."

// SchedulesStreamSuffix ends the name of a schedules stream: the input
// stream FETCH keeps its schedules in FETCH_SCHEDULES.
const SchedulesStreamSuffix = "_SCHEDULES"

// MinScheduleInterval is the shortest "@every" a schedule may have (the
// server's own floor): a schedule cannot be made to flood the input.
const MinScheduleInterval = time.Second

// MaxScheduleNameLength bounds a schedule's name.
const MaxScheduleNameLength = 64

var scheduleName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ErrBadSchedule is wrapped by the refusals of ValidScheduleName and
// ValidScheduleSpec.
var ErrBadSchedule = errors.New("invalid schedule")

// SchedulesStream is the name of the stream that keeps the schedules of
// the input stream named stream.
func SchedulesStream(stream string) string { return stream + SchedulesStreamSuffix }

// SchedulesSubjects is the subject pattern the schedules stream of the
// input stream named stream captures: schedules and their runs.
func SchedulesSubjects(stream string) string { return SchedulesPrefix + stream + ".>" }

// ScheduleNamesSubjects matches the subjects of the schedules themselves
// (one token per name), not their runs.
func ScheduleNamesSubjects(stream string) string { return SchedulesPrefix + stream + ".*" }

// ScheduleSubject is the subject of the schedule named name of the input
// stream named stream.
func ScheduleSubject(stream, name string) string { return SchedulesPrefix + stream + "." + name }

// ScheduleRunSubject is the subject the server publishes the runs of the
// schedule named name to, in the schedules stream.
func ScheduleRunSubject(stream, name string) string { return ScheduleSubject(stream, name) + ".run" }

// ScheduleRunsSubjects matches the runs of every schedule of the input
// stream named stream: what the input stream sources.
func ScheduleRunsSubjects(stream string) string { return SchedulesPrefix + stream + ".*.run" }

// ValidScheduleName checks a schedule's name: 1 to 64 letters, digits,
// '-' and '_' (one subject token).
func ValidScheduleName(name string) error {
	if len(name) == 0 || len(name) > MaxScheduleNameLength || !scheduleName.MatchString(name) {
		return fmt.Errorf("%w: name %q: want 1 to %d letters, digits, '-' or '_'", ErrBadSchedule, cut(name, 80), MaxScheduleNameLength)
	}
	return nil
}

// CronRunTTL is how long a run of a cron (or @hourly, @daily...)
// schedule waits in the input for a service: ScheduleRunTTL's bound for
// specs that are not "@every".
const CronRunTTL = time.Minute

// ScheduleRunTTL is the HeaderScheduleTTL value of spec, in whole
// seconds: for "@every D", D rounded up to a second (a run left when
// the next comes is dropped, not stacked); for any other spec, CronRunTTL.
func ScheduleRunTTL(spec string) string {
	ttl := CronRunTTL
	if d, err := time.ParseDuration(strings.TrimPrefix(spec, "@every ")); strings.HasPrefix(spec, "@every ") && err == nil && d > 0 {
		ttl = max(d, MinScheduleInterval)
	}
	return strconv.FormatInt(int64((ttl+time.Second-1)/time.Second), 10)
}

// EverySpec is the schedule spec of a repeat every d: "@every d".
func EverySpec(d time.Duration) string { return "@every " + d.String() }

// cronField is what one field of a cron spec may hold: numbers, names
// (MON, JAN), and the * / , - ? of cron.
var cronField = regexp.MustCompile(`^[0-9A-Za-z*/,?-]{1,64}$`)

// ValidScheduleSpec checks a schedule spec as the server reads it:
// "@every D" with D at least MinScheduleInterval; one of @yearly,
// @annually, @monthly, @weekly, @daily, @midnight, @hourly; or a cron
// expression of six fields, seconds first ("0 */5 * * * *": every five
// minutes). The server parses the cron fields themselves: one it cannot
// is refused when the schedule is added. A one-off "@at" is not a
// recurring poll, and is refused.
func ValidScheduleSpec(spec string) error {
	switch {
	case strings.HasPrefix(spec, "@every "):
		d, err := time.ParseDuration(strings.TrimPrefix(spec, "@every "))
		if err != nil {
			return fmt.Errorf("%w: %q: %v", ErrBadSchedule, cut(spec, 80), err)
		}
		if d < MinScheduleInterval {
			return fmt.Errorf("%w: every %s is more often than once every %s", ErrBadSchedule, d, MinScheduleInterval)
		}
		return nil
	case strings.HasPrefix(spec, "@"):
		switch spec {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return nil
		}
		return fmt.Errorf("%w: %q: want @every DURATION, @hourly, @daily, @weekly, @monthly, @yearly or a cron expression", ErrBadSchedule, cut(spec, 80))
	}
	fields := strings.Fields(spec)
	if len(fields) != 6 {
		return fmt.Errorf("%w: cron %q has %d fields: want 6, seconds first (\"0 */5 * * * *\" is every five minutes)", ErrBadSchedule, cut(spec, 80), len(fields))
	}
	for _, f := range fields {
		if !cronField.MatchString(f) {
			return fmt.Errorf("%w: cron field %q: want numbers, names, * / , - or ?", ErrBadSchedule, cut(f, 80))
		}
	}
	return nil
}
