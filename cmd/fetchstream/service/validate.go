package service

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/wire"
)

// ErrConfig is wrapped by every *ConfigError.
var ErrConfig = errors.New("invalid service configuration")

// ConfigError is a Config that New refuses: Field names the Config field
// (as "Fetch.Concurrency") and Problem says what is wrong with it (as
// "must be at least 1, got 0"); Problem may name other fields the same way.
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string { return e.Field + " " + e.Problem }

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// validate checks cfg, field by field, and returns the first problem.
// The fields the service hands to a lower package are checked by that
// package's own Validate (see validateFetch); here are the service's own
// fields and what crosses packages.
func validate(cfg *Config) error {
	fail := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	if err := validateFetch(&cfg.Fetch, &cfg.Storage); err != nil {
		return err
	}
	switch {
	case cfg.ShutdownGrace < 0:
		return fail("ShutdownGrace", "must not be negative, got %s", cfg.ShutdownGrace)
	case cfg.StartupTimeout < time.Second:
		return fail("StartupTimeout", "must be at least 1s, got %s", cfg.StartupTimeout)
	case cfg.PublishLinger < 0 || cfg.PublishLinger > MaxPublishLinger:
		return fail("PublishLinger", "must be from 0 to %s, got %s", MaxPublishLinger, cfg.PublishLinger)
	case cfg.Ops.Pprof && cfg.Ops.MetricsAddr == "":
		return fail("Ops.Pprof", "needs Ops.MetricsAddr: profiles are served there")
	}
	// Checked even when URL is given, so that a bad setting never waits
	// for the day it is used.
	if err := validListen(cfg.NATS.Listen); err != nil {
		return fail("NATS.Listen", "%q: %v", cfg.NATS.Listen, err)
	}
	if cfg.NATS.URL == "" && cfg.NATS.DataDir == "" {
		return fail("NATS.DataDir", "must not be empty: the embedded server stores JetStream there")
	}
	for _, s := range []struct {
		field, subject string
		wild           bool
	}{
		{"Subjects.In", cfg.Subjects.In, true},
		{"Subjects.Out", cfg.Subjects.Out, false},
		{"Subjects.Batches", cfg.Subjects.Batches, false},
		{"Subjects.Micro", cfg.Subjects.Micro, false},
	} {
		if err := validSubject(s.subject, s.wild); err != nil {
			return fail(s.field, "%q: %v", s.subject, err)
		}
	}
	if c := cfg.Subjects.Changes; c != "" {
		if err := validSubject(c, false); err != nil {
			return fail("Subjects.Changes", "%q: %v", c, err)
		}
		if cfg.Storage.Validators == "" {
			return fail("Subjects.Changes", "needs Storage.Validators: only a service that keeps validators knows what changed")
		}
		if c == cfg.Subjects.Out || c == cfg.Subjects.Batches {
			return fail("Subjects.Changes", "%q is also Subjects.Out or Subjects.Batches: a consumer of changes would read every result or summary there too", c)
		}
	}
	for _, pattern := range cfg.Subjects.Replies {
		if err := validSubject(pattern, true); err != nil {
			return fail("Subjects.Replies", "%q: %v", pattern, err)
		}
	}
	if err := validateCore(cfg); err != nil {
		return err
	}
	if err := validateStorage(cfg); err != nil {
		return err
	}
	if !cfg.JetStream.Enabled && cfg.Core.Queue == "" {
		return fail("Core.Queue", "must not be empty: without a queue group every replica would fetch every batch")
	}
	if cfg.JetStream.Enabled {
		if err := validateJetStream(cfg); err != nil {
			return err
		}
	}
	return validateLoops(cfg)
}

// validateFetch checks f through the packages it configures: the decode
// stage, the fetch stage and the HTTP fetcher (with st's MaxObject), each
// with its own Validate, their errors read in Config's fields (see
// inServiceTerms). Before them, the service's own rules: ReserveSlots
// takes -1 (the default reserve), which the stage does not; and the
// service always bounds a batch's life and expansion, where 0 means none
// to the stages.
func validateFetch(f *FetchConfig, st *StorageConfig) error {
	fail := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case f.ReserveSlots < -1 || f.ReserveSlots >= f.Concurrency && f.ReserveSlots > 0:
		return fail("Fetch.ReserveSlots", "must be -1 (one in 64 of Fetch.Concurrency), 0 (none) or below Fetch.Concurrency (%d), got %d",
			f.Concurrency, f.ReserveSlots)
	case f.MaxBatchTime < f.MaxTimeout:
		return fail("Fetch.MaxBatchTime", "(%s) must be at least Fetch.MaxTimeout (%s): a batch must outlive its longest request", f.MaxBatchTime, f.MaxTimeout)
	case f.MaxBatchExpansion < 1:
		return fail("Fetch.MaxBatchExpansion", "must be at least 1 byte, got %d", f.MaxBatchExpansion)
	case len(f.Fleet) > maxFleetName:
		return fail("Fetch.Fleet", "must be at most %d bytes, got %d", maxFleetName, len(f.Fleet))
	}
	fetcher := f.fetcherConfig()
	fetcher.MaxObject = st.MaxObject
	for _, err := range []error{f.decodeConfig().Validate(), f.stageConfig(nil).Validate(), fetcher.Validate()} {
		if err != nil {
			return inServiceTerms(err, fetchTerms)
		}
	}
	return nil
}

// microSubjects are the subjects a NATS micro service answers on
// (PING, INFO, STATS, with and without its name and id).
const microSubjects = "$SRV.>"

// validateLoops refuses a configuration in which what the service
// publishes would come back to it as input: results, summaries or dead
// letters on a subject its input takes (the stream it creates over
// Subjects.In would capture them too), the micro service's own subjects
// under the input, or the micro fetch endpoint (core mode) taking the
// input's messages or the service's output. Subjects may be wildcards:
// connectors.SubjectsCollide decides.
func validateLoops(cfg *Config) error {
	type output struct{ field, subject, what string }
	outputs := []output{
		{"Subjects.Out", cfg.Subjects.Out, "its own results"},
		{"Subjects.Batches", cfg.Subjects.Batches, "its own summaries"},
	}
	if cfg.Subjects.Changes != "" {
		outputs = append(outputs, output{"Subjects.Changes", cfg.Subjects.Changes, "its own changed results"})
	}
	if cfg.JetStream.Enabled {
		outputs = append(outputs, output{"JetStream.DeadLetter", cfg.JetStream.DeadLetter, "the batches it dead-letters"})
	}
	in := cfg.Subjects.In
	for _, o := range outputs {
		if connectors.SubjectsCollide(in, o.subject) {
			return &ConfigError{Field: "Subjects.In", Problem: fmt.Sprintf(
				"%q would receive %s %q: the service would read %s as batches, in a loop", in, o.field, o.subject, o.what)}
		}
	}
	if connectors.SubjectsCollide(in, microSubjects) {
		return &ConfigError{Field: "Subjects.In", Problem: fmt.Sprintf(
			"%q would receive the NATS micro service's requests (%s) as batches", in, microSubjects)}
	}
	micro := cfg.Subjects.Micro
	if connectors.SubjectsCollide(in, micro) {
		return &ConfigError{Field: "Subjects.In", Problem: fmt.Sprintf(
			"%q would receive Subjects.Micro %q: each request would be fetched twice", in, micro)}
	}
	for _, o := range outputs {
		if connectors.SubjectsCollide(micro, o.subject) {
			return &ConfigError{Field: "Subjects.Micro", Problem: fmt.Sprintf(
				"%q would receive %s %q: the service would read %s as batches", micro, o.field, o.subject, o.what)}
		}
	}
	if connectors.SubjectsCollide(micro, microSubjects) {
		return &ConfigError{Field: "Subjects.Micro", Problem: fmt.Sprintf("%q is among the micro service's own subjects (%s)", micro, microSubjects)}
	}
	return nil
}

// validateCore checks the core input through the connector it
// configures (the micro endpoint takes the same limits).
func validateCore(cfg *Config) error {
	if err := cfg.coreSourceConfig().Validate(); err != nil {
		return inServiceTerms(err, coreTerms)
	}
	return nil
}

// validateStorage checks st through the connectors it configures (the
// settings of an object store not in use too, so that a bad one never
// waits for the day it is used), and what crosses packages: a body goes
// to the object store only past Fetch.MaxBody.
func validateStorage(cfg *Config) error {
	st := &cfg.Storage
	objects := st.objectStoreConfig()
	if objects.Bucket == "" {
		objects.Bucket = "unused"
	}
	if err := objects.Validate(); err != nil {
		return inServiceTerms(err, storageTerms)
	}
	if st.Validators != "" {
		if err := st.validatorsConfig().Validate(); err != nil {
			return inServiceTerms(err, validatorsTerms)
		}
	}
	if st.ResultsStream != "" {
		if err := cfg.resultsStreamConfig().Validate(); err != nil {
			return inServiceTerms(err, storageTerms)
		}
	}
	if st.ObjectStore != "" && st.MaxObject != 0 && st.MaxObject <= cfg.Fetch.MaxBody {
		return &ConfigError{Field: "Storage.MaxObject", Problem: fmt.Sprintf(
			"(%d) must be above Fetch.MaxBody (%d): bodies over the inline cap go to the object store", st.MaxObject, cfg.Fetch.MaxBody)}
	}
	return nil
}

// validateJetStream checks cfg.JetStream through the consumer it sets up
// and the publisher's retry bound, and what is the service's own: the
// dead-letter subject, and a pull credit that a replica admitting
// Fetch.MaxActive+Fetch.MaxWaiting batches can use.
func validateJetStream(cfg *Config) error {
	j := &cfg.JetStream
	if err := j.consumerSetup(cfg.Subjects.In, cfg.Storage.Replicas, false).Validate(); err != nil {
		return inServiceTerms(err, consumerTerms)
	}
	publisher := connectors.PublisherConfig{Results: cfg.Subjects.Out, Batches: cfg.Subjects.Batches, RetryFor: j.OutputRetryFor}
	if err := publisher.Validate(); err != nil {
		return inServiceTerms(err, coreTerms)
	}
	fail := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	admitted := cfg.Fetch.MaxActive + cfg.Fetch.MaxWaiting
	switch {
	case j.DeadLetter == "":
		return fail("JetStream.DeadLetter", "must not be empty")
	case validSubject(j.DeadLetter, false) != nil:
		return fail("JetStream.DeadLetter", "%q: %v", j.DeadLetter, validSubject(j.DeadLetter, false))
	case j.MaxAckPending < pullCredit(admitted):
		return fail("JetStream.MaxAckPending", "(%d) must be at least Fetch.MaxActive+Fetch.MaxWaiting+2 (%d), what one replica may hold",
			j.MaxAckPending, pullCredit(admitted))
	}
	return nil
}

// validListen checks a host:port whose port is a number from -1 (any
// free port) to 65535.
func validListen(listen string) error {
	_, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return errors.New("want host:port")
	}
	if port, err := strconv.Atoi(portText); err != nil || port < -1 || port > 65535 {
		return errors.New("bad port")
	}
	return nil
}

// validSubject checks a NATS subject (see wire.ValidSubject); wildcards
// only where subscribing (wild).
func validSubject(subject string, wild bool) error {
	if err := wire.ValidSubject(subject, true); err != nil {
		return err
	}
	if !wild && wire.ValidSubject(subject, false) != nil {
		return errors.New("wildcards are only for the input subject")
	}
	return nil
}
