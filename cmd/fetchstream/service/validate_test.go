package service

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// New refuses a bad Config with a *ConfigError naming the field, wrapping
// ErrConfig; it accepts Defaults.
func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		edit           func(*Config)
		field, problem string
	}{
		{func(c *Config) { c.Fetch.Concurrency = 0 }, "Fetch.Concurrency", "must be at least 1, got 0"},
		{func(c *Config) { c.Fetch.Timeout = -time.Second }, "Fetch.Timeout", "must be positive, got -1s"},
		{func(c *Config) { c.Fetch.MaxTimeout = time.Second; c.Fetch.Timeout = 5 * time.Second },
			"Fetch.MaxTimeout", "(1s) must not be below Fetch.Timeout (5s)"},
		{func(c *Config) { c.Fetch.Window = 0 }, "Fetch.Window", "must be at least 1, got 0"},
		{func(c *Config) { c.Fetch.MaxWaiting = -1 }, "Fetch.MaxWaiting", "must not be negative, got -1"},
		{func(c *Config) { c.Fetch.MaxBatchTime = 30 * time.Second }, "Fetch.MaxBatchTime",
			"(30s) must be at least Fetch.MaxTimeout (1m0s): a batch must outlive its longest request"},
		{func(c *Config) { c.Fetch.MaxBody = 0 }, "Fetch.MaxBody", "must be at least 1 byte, got 0"},
		{func(c *Config) { c.Fetch.Retries = 11 }, "Fetch.Retries", "must be from 0 to 10, got 11"},
		{func(c *Config) { c.Fetch.PerHostRate = -1 }, "Fetch.PerHostRate", "must be a number of requests per second, 0 or more, got -1"},
		{func(c *Config) { c.Fetch.PerHostBurst = -1 }, "Fetch.PerHostBurst", "must not be negative (0 means 1), got -1"},
		{func(c *Config) { c.Fetch.PerHostJitter = 2 }, "Fetch.PerHostJitter", "must be from 0 to 1, got 2"},
		{func(c *Config) { c.Fetch.PerHostKey = "site" }, "Fetch.PerHostKey", `must be host or domain, got "site"`},
		{func(c *Config) { c.Fetch.MaxHostPause = -time.Second }, "Fetch.MaxHostPause", "must not be negative (0 means no pauses), got -1s"},
		{func(c *Config) { c.Fetch.ReserveSlots = 64 }, "Fetch.ReserveSlots",
			"must be -1 (one in 64 of Fetch.Concurrency), 0 (none) or below Fetch.Concurrency (64), got 64"},
		{func(c *Config) { c.Fetch.ReserveSlots = -2 }, "Fetch.ReserveSlots",
			"must be -1 (one in 64 of Fetch.Concurrency), 0 (none) or below Fetch.Concurrency (64), got -2"},
		{func(c *Config) { c.Fetch.MaxHeldBytes = -1 }, "Fetch.MaxHeldBytes", "must not be negative (0 means no bound but the windows), got -1"},
		{func(c *Config) { c.Fetch.RobotsTTL = -time.Second }, "Fetch.RobotsTTL", "must not be negative (0 means the default, 1h0m0s), got -1s"},
		{func(c *Config) { c.Fetch.MaxRequestBody = -1 }, "Fetch.MaxRequestBody", "must not be negative (0 means the default, 262144), got -1"},
		{func(c *Config) { c.Fetch.PerHost = -1 }, "Fetch.PerHost", "must not be negative (0 means no per-host cap), got -1"},
		{func(c *Config) { c.Fetch.MaxBatchTime = 0 }, "Fetch.MaxBatchTime",
			"(0s) must be at least Fetch.MaxTimeout (1m0s): a batch must outlive its longest request"},
		{func(c *Config) { c.Fetch.MaxBatchExpansion = 0 }, "Fetch.MaxBatchExpansion", "must be at least 1 byte, got 0"},
		{func(c *Config) { c.Fetch.Fleet = strings.Repeat("f", 101) }, "Fetch.Fleet", "must be at most 100 bytes, got 101"},
		{func(c *Config) { c.Fetch.RetryBase = -time.Second }, "Fetch.RetryBase", "must not be negative, got -1s"},
		{func(c *Config) { c.Fetch.RetryMax = time.Millisecond }, "Fetch.RetryMax", "(1ms) must not be below Fetch.RetryBase (200ms)"},
		{func(c *Config) { c.Storage.MaxObject = -1 }, "Storage.MaxObject", "must not be negative (0 means the default, 67108864), got -1"},
		{func(c *Config) { c.Fetch.UserAgent = "bot\r\nX-Evil: 1" }, "Fetch.UserAgent", "must not hold a control character (CR, LF, ...)"},
		{func(c *Config) { c.Fetch.ResponseHeaders = []string{"ETag", "bad name"} }, "Fetch.ResponseHeaders", `"bad name" is not a header name`},
		{func(c *Config) { c.Fetch.BodyMode = "xml" }, "Fetch.BodyMode", `must be auto, text or none, got "xml"`},
		{func(c *Config) { c.PublishLinger = time.Second }, "PublishLinger", "must be from 0 to 100ms, got 1s"},
		{func(c *Config) { c.StartupTimeout = 0 }, "StartupTimeout", "must be at least 1s, got 0s"},
		{func(c *Config) { c.Ops.Pprof = true }, "Ops.Pprof", "needs Ops.MetricsAddr: profiles are served there"},
		{func(c *Config) { c.NATS.Listen = "nowhere" }, "NATS.Listen", `"nowhere": want host:port`},
		{func(c *Config) { c.NATS.DataDir = "" }, "NATS.DataDir", "must not be empty: the embedded server stores JetStream there"},
		{func(c *Config) { c.Subjects.In = "a..b" }, "Subjects.In", `"a..b": empty token`},
		{func(c *Config) { c.Subjects.Out = "fetch.*" }, "Subjects.Out", `"fetch.*": wildcards are only for the input subject`},
		{func(c *Config) { c.Subjects.Micro = "" }, "Subjects.Micro", `"": empty subject`},
		{func(c *Config) { c.Core.PendingBytes = 10 }, "Core.PendingBytes", "must be at least 1KiB (0 means the default, 67108864), got 10"},
		{func(c *Config) { c.Core.PendingBatches = -1 }, "Core.PendingBatches", "must not be negative (0 means the default, 1024), got -1"},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.Durable = true, "" }, "JetStream.Durable", "must not be empty"},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.MaxDeliver = true, 1 }, "JetStream.MaxDeliver",
			"must be at least 2 (the last delivery is dead-lettered), or -1 for no limit; got 1"},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.MaxAckPending = true, 10 }, "JetStream.MaxAckPending",
			"(10) must be at least Fetch.MaxActive+Fetch.MaxWaiting+2 (514), what one replica may hold"},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.OutputRetryFor = true, 500*time.Millisecond }, "JetStream.OutputRetryFor",
			"must be at least 1s (0 means the default, 2m0s), got 500ms"},
		{func(c *Config) { c.Storage.Replicas = -1 }, "Storage.Replicas", "must be from 1 to 5 (0 means 1), got -1"},
		{func(c *Config) { c.Storage.Replicas = 6 }, "Storage.Replicas", "must be from 1 to 5 (0 means 1), got 6"},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.Stream = true, "FETCH.URLS" }, "JetStream.Stream",
			`"FETCH.URLS": a stream name is not empty and has no spaces, dots, '*', '>', '/' or '\'`},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.AckWait = true, 0 }, "JetStream.AckWait", "must be at least 1s, got 0s"},
		{func(c *Config) { c.Storage.ResultsStream = "fetch.results" }, "Storage.ResultsStream",
			`"fetch.results": a stream name is not empty and has no spaces, dots, '*', '>', '/' or '\'`},
		{func(c *Config) { c.Storage.ResultsStream, c.Storage.ResultsMaxAge = "R", -time.Second }, "Storage.ResultsMaxAge",
			"must be at least 1s (0 means the default, 24h0m0s), got -1s"},
		{func(c *Config) { c.Storage.ObjectStore = "bodies.big" }, "Storage.ObjectStore",
			`"bodies.big": a bucket name is not empty and has only letters, digits, '-' and '_'`},
		{func(c *Config) { c.Storage.ObjectTTL = -time.Second }, "Storage.ObjectTTL", "must not be negative (0 means for ever), got -1s"},
		{func(c *Config) { c.Storage.ObjectStore, c.Storage.MaxObject = "bodies", 1000 }, "Storage.MaxObject",
			"(1000) must be above Fetch.MaxBody (262144): bodies over the inline cap go to the object store"},
		{func(c *Config) { c.Core.Queue = "" }, "Core.Queue", "must not be empty: without a queue group every replica would fetch every batch"},
		// Configurations whose output comes back as their input.
		{func(c *Config) { c.Subjects.In = "fetch.*" }, "Subjects.In",
			`"fetch.*" would receive Subjects.Out "fetch.results": the service would read its own results as batches, in a loop`},
		{func(c *Config) { c.Subjects.In = "fetch.>" }, "Subjects.In", `"fetch.>" would receive Subjects.Out "fetch.results"` +
			": the service would read its own results as batches, in a loop"},
		{func(c *Config) { c.Subjects.In, c.Subjects.Out = "*.batches", "res" }, "Subjects.In",
			`"*.batches" would receive Subjects.Batches "fetch.batches": the service would read its own summaries as batches, in a loop`},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.DeadLetter = true, "fetch.urls" }, "Subjects.In",
			`"fetch.urls" would receive JetStream.DeadLetter "fetch.urls": the service would read the batches it dead-letters as batches, in a loop`},
		{func(c *Config) { c.JetStream.Enabled, c.JetStream.DeadLetter = true, "dead.*" }, "JetStream.DeadLetter",
			`"dead.*": wildcards are only for the input subject`},
		{func(c *Config) { c.Subjects.In = ">" }, "Subjects.In",
			`">" would receive Subjects.Out "fetch.results": the service would read its own results as batches, in a loop`},
		{func(c *Config) { c.Subjects.In = "$SRV.*" }, "Subjects.In",
			`"$SRV.*" would receive the NATS micro service's requests ($SRV.>) as batches`},
		{func(c *Config) { c.JetStream.Enabled, c.Subjects.In = true, "$SRV.x" }, "Subjects.In",
			`"$SRV.x" would receive the NATS micro service's requests ($SRV.>) as batches`},
		{func(c *Config) { c.JetStream.Enabled, c.Subjects.Micro = true, "fetch.urls" }, "Subjects.In",
			`"fetch.urls" would receive Subjects.Micro "fetch.urls": each request would be fetched twice`},
		{func(c *Config) { c.Subjects.In = "fetchstream.*" }, "Subjects.In",
			`"fetchstream.*" would receive Subjects.Micro "fetchstream.fetch": each request would be fetched twice`},
		{func(c *Config) { c.Subjects.Micro = "fetch.batches" }, "Subjects.Micro",
			`"fetch.batches" would receive Subjects.Batches "fetch.batches": the service would read its own summaries as batches`},
	} {
		cfg := Defaults()
		tc.edit(&cfg)
		_, err := New(cfg, nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || ce.Field != tc.field || ce.Problem != tc.problem {
			t.Errorf("got %v, want a ConfigError %s %s", err, tc.field, tc.problem)
		}
	}
	if _, err := New(Defaults(), nil); err != nil {
		t.Errorf("Defaults refused: %v", err)
	}
	// Subjects that only look alike are fine; so is a dead letter in core
	// mode, where there are none. 0 is the documented default (or none)
	// of the fields where every package reads it so.
	for _, edit := range []func(*Config){
		func(c *Config) { c.Fetch.PerHostBurst = 0 },
		func(c *Config) { c.Fetch.RobotsTTL = 0 },
		func(c *Config) { c.Fetch.MaxRequestBody = 0 },
		func(c *Config) { c.Fetch.PerHostKey = "" },
		func(c *Config) { c.Fetch.BodyMode = "" },
		func(c *Config) { c.Storage.ObjectStore, c.Storage.MaxObject = "bodies", 0 },
		func(c *Config) { c.Storage.Replicas = 0 },
		func(c *Config) { c.Core.PendingBatches, c.Core.PendingBytes = 0, 0 },
		func(c *Config) { c.JetStream.Enabled, c.JetStream.OutputRetryFor = true, 0 },
		func(c *Config) { c.Storage.ResultsStream, c.Storage.ResultsMaxAge = "R", 0 },
		func(c *Config) { c.Subjects.In = "fetch.urls.*" },
		func(c *Config) {
			c.Subjects.In, c.Subjects.Out, c.Subjects.Batches = "jobs.>", "out.results", "out.batches"
		},
		func(c *Config) { c.JetStream.DeadLetter = "fetch.urls" },
	} {
		cfg := Defaults()
		edit(&cfg)
		if _, err := New(cfg, nil); err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	// A JetStream setting is not checked in core mode.
	cfg := Defaults()
	cfg.JetStream.Durable = ""
	if _, err := New(cfg, nil); err != nil {
		t.Errorf("core mode refused for a JetStream setting: %v", err)
	}
}
