package service

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/engine/polite"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
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
func validate(cfg *Config) error {
	f := &cfg.Fetch
	fail := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case f.Concurrency < 1:
		return fail("Fetch.Concurrency", "must be at least 1, got %d", f.Concurrency)
	case f.Timeout <= 0:
		return fail("Fetch.Timeout", "must be positive, got %s", f.Timeout)
	case f.MaxTimeout < f.Timeout:
		return fail("Fetch.MaxTimeout", "(%s) must not be below Fetch.Timeout (%s)", f.MaxTimeout, f.Timeout)
	case f.MaxBatch < 1:
		return fail("Fetch.MaxBatch", "must be at least 1, got %d", f.MaxBatch)
	case f.MaxBatchExpansion < 1:
		return fail("Fetch.MaxBatchExpansion", "must be at least 1 byte, got %d", f.MaxBatchExpansion)
	case f.Window < 1:
		return fail("Fetch.Window", "must be at least 1, got %d", f.Window)
	case f.MaxActive < 1:
		return fail("Fetch.MaxActive", "must be at least 1, got %d", f.MaxActive)
	case f.MaxWaiting < 0:
		return fail("Fetch.MaxWaiting", "must not be negative, got %d", f.MaxWaiting)
	case f.MaxBatchTime < f.MaxTimeout:
		return fail("Fetch.MaxBatchTime", "(%s) must be at least Fetch.MaxTimeout (%s): a batch must outlive its longest request", f.MaxBatchTime, f.MaxTimeout)
	case f.PerHost < 0:
		return fail("Fetch.PerHost", "must not be negative, got %d", f.PerHost)
	case f.ReserveSlots < -1 || f.ReserveSlots >= f.Concurrency && f.ReserveSlots > 0:
		return fail("Fetch.ReserveSlots", "must be -1 (one in 64 of Fetch.Concurrency), 0 (none) or below Fetch.Concurrency (%d), got %d",
			f.Concurrency, f.ReserveSlots)
	case f.MaxHeldBytes < 0:
		return fail("Fetch.MaxHeldBytes", "must not be negative (0: no bound but the windows), got %d", f.MaxHeldBytes)
	case f.PerHostRate < 0 || math.IsNaN(f.PerHostRate) || math.IsInf(f.PerHostRate, 0):
		return fail("Fetch.PerHostRate", "must be a number of requests per second, 0 or more, got %g", f.PerHostRate)
	case f.PerHostBurst < 1:
		return fail("Fetch.PerHostBurst", "must be at least 1, got %d", f.PerHostBurst)
	case !(f.PerHostJitter >= 0 && f.PerHostJitter <= 1):
		return fail("Fetch.PerHostJitter", "must be from 0 to 1, got %g", f.PerHostJitter)
	case f.PerHostKey != string(polite.HostKeyHost) && f.PerHostKey != string(polite.HostKeyDomain):
		return fail("Fetch.PerHostKey", "must be host or domain, got %q", f.PerHostKey)
	case f.MaxHostPause < 0:
		return fail("Fetch.MaxHostPause", "must not be negative, got %s", f.MaxHostPause)
	case f.RobotsTTL <= 0:
		return fail("Fetch.RobotsTTL", "must be positive, got %s", f.RobotsTTL)
	case f.MaxBody < 1:
		return fail("Fetch.MaxBody", "must be at least 1 byte, got %d", f.MaxBody)
	case f.MaxRedirects < 0:
		return fail("Fetch.MaxRedirects", "must not be negative, got %d", f.MaxRedirects)
	case f.Retries < 0 || f.Retries > httpfetch.MaxRetries:
		return fail("Fetch.Retries", "must be from 0 to %d, got %d", httpfetch.MaxRetries, f.Retries)
	case f.RetryBase < 0 || f.RetryMax < f.RetryBase:
		return fail("Fetch.RetryBase", "(%s) must not be negative nor above Fetch.RetryMax (%s)", f.RetryBase, f.RetryMax)
	case f.MaxRequestBody < 1:
		return fail("Fetch.MaxRequestBody", "must be at least 1 byte, got %d", f.MaxRequestBody)
	case !wire.ValidHeaderValue(f.UserAgent):
		return fail("Fetch.UserAgent", "must not hold a control character (CR, LF, ...)")
	case cfg.ShutdownGrace < 0:
		return fail("ShutdownGrace", "must not be negative, got %s", cfg.ShutdownGrace)
	case cfg.StartupTimeout < time.Second:
		return fail("StartupTimeout", "must be at least 1s, got %s", cfg.StartupTimeout)
	case cfg.PublishLinger < 0 || cfg.PublishLinger > MaxPublishLinger:
		return fail("PublishLinger", "must be from 0 to %s, got %s", MaxPublishLinger, cfg.PublishLinger)
	case cfg.Ops.Pprof && cfg.Ops.MetricsAddr == "":
		return fail("Ops.Pprof", "needs Ops.MetricsAddr: profiles are served there")
	}
	for _, name := range f.ResponseHeaders {
		if !wire.ValidHeaderName(name) {
			return fail("Fetch.ResponseHeaders", "%q is not a header name", name)
		}
	}
	if _, err := httpfetch.ParseBodyMode(f.BodyMode); err != nil {
		return fail("Fetch.BodyMode", "must be auto, text or none, got %q", f.BodyMode)
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
	for _, pattern := range cfg.Subjects.Replies {
		if err := validSubject(pattern, true); err != nil {
			return fail("Subjects.Replies", "%q: %v", pattern, err)
		}
	}
	if err := validateCore(&cfg.Core); err != nil {
		return err
	}
	if err := validateStorage(&cfg.Storage, f.MaxBody); err != nil {
		return err
	}
	if !cfg.JetStream.Enabled && cfg.Core.Queue == "" {
		return fail("Core.Queue", "must not be empty: without a queue group every replica would fetch every batch")
	}
	if cfg.JetStream.Enabled {
		if err := validateJetStream(&cfg.JetStream, f.MaxActive+f.MaxWaiting); err != nil {
			return err
		}
	}
	return validateLoops(cfg)
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

func validateCore(c *CoreConfig) error {
	switch {
	case c.PendingBatches < 1:
		return &ConfigError{"Core.PendingBatches", fmt.Sprintf("must be at least 1, got %d", c.PendingBatches)}
	case c.PendingBytes < 1024:
		return &ConfigError{"Core.PendingBytes", fmt.Sprintf("must be at least 1KiB, got %d", c.PendingBytes)}
	}
	return nil
}

func validateStorage(st *StorageConfig, maxBody int64) error {
	fail := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case st.Replicas < 1 || st.Replicas > connectors.MaxReplicas:
		return fail("Storage.Replicas", "must be from 1 to %d, got %d", connectors.MaxReplicas, st.Replicas)
	case st.ResultsStream != "" && !validStreamName(st.ResultsStream):
		return fail("Storage.ResultsStream", "%q: a stream name has no spaces, dots, '*', '>', '/' or '\\'", st.ResultsStream)
	case st.ResultsStream != "" && st.ResultsMaxAge < time.Second:
		return fail("Storage.ResultsMaxAge", "must be at least 1s, got %s", st.ResultsMaxAge)
	case st.ObjectStore != "" && !validBucketName(st.ObjectStore):
		return fail("Storage.ObjectStore", "%q: a bucket name has only letters, digits, '-' and '_'", st.ObjectStore)
	case st.ObjectTTL < 0:
		return fail("Storage.ObjectTTL", "must not be negative, got %s", st.ObjectTTL)
	case st.ObjectStore != "" && st.MaxObject <= maxBody:
		return fail("Storage.MaxObject", "(%d) must be above Fetch.MaxBody (%d): bodies over the inline cap go to the object store", st.MaxObject, maxBody)
	}
	return nil
}

func validStreamName(name string) bool {
	return !strings.ContainsAny(name, " \t\r\n.*>/\\")
}

func validBucketName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return name != ""
}

// validateJetStream checks j for a replica that admits up to admitted
// batches (Fetch.MaxActive+Fetch.MaxWaiting).
func validateJetStream(j *JetStreamConfig, admitted int) error {
	fail := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	switch {
	case j.Stream == "":
		return fail("JetStream.Stream", "must not be empty")
	case j.Durable == "":
		return fail("JetStream.Durable", "must not be empty")
	case j.DeadLetter == "":
		return fail("JetStream.DeadLetter", "must not be empty")
	case validSubject(j.DeadLetter, false) != nil:
		return fail("JetStream.DeadLetter", "%q: %v", j.DeadLetter, validSubject(j.DeadLetter, false))
	case j.AckWait < time.Second:
		return fail("JetStream.AckWait", "must be at least 1s, got %s", j.AckWait)
	case j.MaxDeliver != -1 && j.MaxDeliver < 2:
		return fail("JetStream.MaxDeliver", "must be at least 2 (the last delivery is dead-lettered), or -1 for no limit; got %d", j.MaxDeliver)
	case j.MaxAckPending < 1:
		return fail("JetStream.MaxAckPending", "must be at least 1, got %d", j.MaxAckPending)
	case j.OutputRetryFor < time.Second:
		return fail("JetStream.OutputRetryFor", "must be at least 1s, got %s", j.OutputRetryFor)
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
