package main

import "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"

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
	"Fetch.Concurrency": "--concurrency", "Fetch.Timeout": "--timeout", "Fetch.MaxTimeout": "--max-timeout",
	"Fetch.MaxBatch": "--max-batch", "Fetch.Window": "--window", "Fetch.MaxActive": "--max-active",
	"Fetch.MaxWaiting": "--max-waiting", "Fetch.MaxBatchTime": "--max-batch-time",
	"Fetch.ReserveSlots": "--reserve-slots", "Fetch.MaxHeldBytes": "--max-held-bytes",
	"Fetch.PerHost": "--per-host", "Fetch.PerHostRate": "--per-host-rate", "Fetch.PerHostBurst": "--per-host-burst",
	"Fetch.PerHostJitter": "--per-host-jitter", "Fetch.PerHostKey": "--per-host-key", "Fetch.MaxHostPause": "--max-host-pause",
	"Fetch.Robots": "--robots", "Fetch.RobotsTTL": "--robots-ttl",
	"Fetch.MaxBody": "--max-body", "Fetch.RefuseLarge": "--refuse-large",
	"Fetch.MaxRedirects": "--max-redirects", "Fetch.BodyMode": "--body", "Fetch.Retries": "--retries",
	"Fetch.RetryBase": "--retry-base", "Fetch.RetryMax": "--retry-max",
	"Fetch.AllowPrivate": "--allow-private", "Fetch.AllowNets": "--allow-net",
	"Storage.Replicas": "--stream-replicas", "Storage.ResultsStream": "--results-stream",
	"Storage.ResultsMaxAge": "--results-max-age", "Storage.ObjectStore": "--object-store",
	"Storage.ObjectTTL": "--object-ttl", "Storage.MaxObject": "--max-object",
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
