package connectors

import (
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// schedulable reports whether the input stream can hold c's schedules:
// their subjects (wire.SchedulesSubjects) must not be taken by the input
// subject, or the consumer would read the schedules themselves as
// batches, and so remove them from a work-queue stream.
func (c ConsumerSetup) schedulable() bool {
	return !SubjectsCollide(c.Subject, wire.SchedulesSubjects(c.Stream))
}

// withSchedules is cfg, a new input stream's, made to hold c's message
// schedules (ADR-51, nats-server 2.14 and later; an older server ignores
// the setting): their subjects captured and schedules allowed (which
// allows roll-ups, as the server requires). Unchanged when c is not
// schedulable. An existing stream is left as it is: `fetchstream
// schedule add` (the Go client's Schedule) enables schedules on it.
func withSchedules(cfg jetstream.StreamConfig, c ConsumerSetup) jetstream.StreamConfig {
	if !c.schedulable() {
		return cfg
	}
	schedules := wire.SchedulesSubjects(c.Stream)
	if !slices.Contains(cfg.Subjects, schedules) {
		cfg.Subjects = append(slices.Clone(cfg.Subjects), schedules)
	}
	cfg.AllowMsgSchedules, cfg.AllowRollup = true, true
	return cfg
}
