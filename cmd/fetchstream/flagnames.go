package main

import (
	"context"
	"log/slog"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

// flagOf names the run flag that sets each service.Config field, so that
// the service's errors, which name fields, read in the CLI's terms.
var flagOf = map[string]string{
	"NATS.URL": "--nats-url", "NATS.Listen": "--listen", "NATS.DataDir": "--data-dir",
	"Subjects.In": "--in", "Subjects.Out": "--out", "Subjects.Batches": "--batches-subject",
	"Subjects.Micro": "--micro-subject",
	"Core.Queue":     "--queue", "Core.PendingBatches": "--pending-batches", "Core.PendingBytes": "--pending-bytes",
	"JetStream.Enabled": "--jetstream", "JetStream.Stream": "--stream", "JetStream.Durable": "--durable",
	"JetStream.AckWait": "--ack-wait", "JetStream.MaxDeliver": "--max-deliver",
	"JetStream.MaxAckPending": "--max-ack-pending", "JetStream.DeadLetter": "--dead-letter",
	"JetStream.OutputRetryFor": "--output-retry-for",
	"Fetch.Concurrency":        "--concurrency", "Fetch.Timeout": "--timeout", "Fetch.MaxTimeout": "--max-timeout",
	"Fetch.MaxBatch": "--max-batch", "Fetch.Window": "--window", "Fetch.MaxActive": "--max-active",
	"Fetch.MaxWaiting": "--max-waiting", "Fetch.MaxBatchTime": "--max-batch-time",
	"Fetch.ReserveSlots": "--reserve-slots", "Fetch.MaxHeldBytes": "--max-held-bytes",
	"Fetch.PerHost": "--per-host", "Fetch.PerHostRate": "--per-host-rate", "Fetch.PerHostBurst": "--per-host-burst",
	"Fetch.PerHostJitter": "--per-host-jitter", "Fetch.PerHostKey": "--per-host-key", "Fetch.MaxHostPause": "--max-host-pause",
	"Fetch.Robots": "--robots", "Fetch.RobotsTTL": "--robots-ttl", "Fetch.Fleet": "--polite-fleet",
	"Fetch.MaxBody": "--max-body", "Fetch.RefuseLarge": "--refuse-large",
	"Fetch.MaxRedirects": "--max-redirects", "Fetch.BodyMode": "--body", "Fetch.Retries": "--retries",
	"Fetch.RetryBase": "--retry-base", "Fetch.RetryMax": "--retry-max",
	"Fetch.AllowPrivate": "--allow-private", "Fetch.AllowNets": "--allow-net",
	"Storage.Replicas": "--stream-replicas", "Storage.ResultsStream": "--results-stream",
	"Storage.ResultsMaxAge": "--results-max-age", "Storage.ObjectStore": "--object-store",
	"Storage.ObjectTTL": "--object-ttl", "Storage.MaxObject": "--max-object",
	"Storage.Validators": "--validators", "Storage.ValidatorsTTL": "--validators-ttl",
	"Storage.ValidatorsTimeout": "--validators-timeout", "Storage.ValidatorsMaxBytes": "--validators-max-bytes", "Subjects.Changes": "--changes",
	"Fetch.UserAgent": "--user-agent", "Fetch.MaxRequestBody": "--max-request-body",
	"Fetch.ResponseHeaders": "--response-headers", "Fetch.Credentials": "--credentials",
	"Ops.MetricsAddr": "--metrics-addr", "Ops.Pprof": "--pprof",
	"ShutdownGrace": "--shutdown-grace", "StartupTimeout": "--startup-timeout", "PublishLinger": "--publish-linger",
	"Subjects.Replies": "--reply-subjects", "Fetch.MaxBatchExpansion": "--max-batch-expansion",
}

// runFlagTerms rewrites Config field names into run's flags.
var runFlagTerms = settings.NewRenamer(flagOf)

// inFlagTerms is err with the Config fields it names read as run flags
// (nil stays nil); errors.Is and errors.As still see err.
func inFlagTerms(err error) error { return runFlagTerms.Rename(err) }

// inFlagTermsLog is log with the Config fields that its messages and
// string attributes name read as run flags: the service logs in its
// package's terms ("JetStream.Enabled"), the user reads run's
// ("--jetstream").
func inFlagTermsLog(log *slog.Logger) *slog.Logger {
	return slog.New(renamingHandler{log.Handler()})
}

type renamingHandler struct{ next slog.Handler }

func (h renamingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h renamingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, runFlagTerms.Replace(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renameAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h renamingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	renamed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		renamed[i] = renameAttr(a)
	}
	return renamingHandler{h.next.WithAttrs(renamed)}
}

func (h renamingHandler) WithGroup(name string) slog.Handler {
	return renamingHandler{h.next.WithGroup(name)}
}

func renameAttr(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindString {
		a.Value = slog.StringValue(runFlagTerms.Replace(a.Value.String()))
	}
	return a
}
