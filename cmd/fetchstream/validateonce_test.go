package main

import (
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/peterbourgon/ff/v3"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/wire"
)

// lowerEntry is a lower package's constructor given one setting: what it
// says, and the field and sentinel a refusal must name.
type lowerEntry struct {
	field    string // as the package's Config spells it
	sentinel error
	try      func(t *testing.T) error
}

// newFetchWith is engine.NewFetch with a small valid config that edit
// changes; a stage it starts is stopped at once.
func newFetchWith(field string, edit func(*engine.FetchConfig)) lowerEntry {
	return lowerEntry{field, engine.ErrConfig, func(t *testing.T) error {
		cfg := engine.FetchConfig{Concurrency: 64, Window: 4, MaxActive: 4, PerHostBurst: 1}
		edit(&cfg)
		f, err := engine.NewFetch(t.Context(), nil, cfg)
		if err == nil {
			close(f.In())
			for range f.Out() {
			}
		}
		return err
	}}
}

// newDecodeWith is stages.NewDecode with the service's defaults, edited.
func newDecodeWith(field string, edit func(*stages.DecodeConfig)) lowerEntry {
	return lowerEntry{field, stages.ErrConfig, func(*testing.T) error {
		cfg := stages.DecodeConfig{MaxBatch: 10, DefaultTimeout: 10 * time.Second, MaxTimeout: time.Minute,
			MaxBatchTime: 15 * time.Minute, MaxExpansion: 1 << 20}
		edit(&cfg)
		_, err := stages.NewDecode(cfg)
		return err
	}}
}

// newFetcherWith is httpfetch.New with the service's defaults, edited.
func newFetcherWith(field string, edit func(*httpfetch.Config)) lowerEntry {
	return lowerEntry{field, httpfetch.ErrConfig, func(*testing.T) error {
		cfg := httpfetch.Config{Concurrency: 64, MaxBody: 256 << 10, MaxRedirects: 10,
			RetryBase: 200 * time.Millisecond, RetryMax: 5 * time.Second}
		edit(&cfg)
		f, err := httpfetch.New(cfg)
		if err == nil {
			f.Close()
		}
		return err
	}}
}

// consumerWith is connectors.NewJetStreamSource with the service's
// default consumer, edited: it validates before any I/O, so a refusal
// needs no connection; a value it accepts is judged by the same
// ConsumerSetup.Validate, as it would go on to connect.
func consumerWith(field string, edit func(*connectors.ConsumerSetup)) lowerEntry {
	return lowerEntry{field, connectors.ErrConfig, func(t *testing.T) error {
		setup := connectors.ConsumerSetup{Stream: connectors.DefaultStream, Subject: "fetch.urls", Durable: connectors.DefaultDurable,
			AckWait: connectors.DefaultAckWait, MaxDeliver: connectors.DefaultMaxDeliver, MaxAckPending: connectors.DefaultMaxAckPending}
		edit(&setup)
		if err := setup.Validate(); err == nil {
			return nil
		}
		_, err := connectors.NewJetStreamSource(t.Context(), nil, connectors.JetStreamSourceConfig{ConsumerSetup: setup, MaxPending: 1})
		return err
	}}
}

// resultsStreamWith is connectors.EnsureResultsStream with a valid config,
// edited, as consumerWith is NewJetStreamSource.
func resultsStreamWith(field string, edit func(*connectors.ResultsStreamConfig)) lowerEntry {
	return lowerEntry{field, connectors.ErrConfig, func(t *testing.T) error {
		cfg := connectors.ResultsStreamConfig{Name: "R", Subjects: []string{"fetch.results"}, MaxAge: time.Hour}
		edit(&cfg)
		if err := cfg.Validate(); err == nil {
			return nil
		}
		return connectors.EnsureResultsStream(t.Context(), nil, cfg, nil)
	}}
}

// objectStoreWith is connectors.NewObjectStore with a valid config,
// edited, as consumerWith is NewJetStreamSource.
func objectStoreWith(field string, edit func(*connectors.ObjectStoreConfig)) lowerEntry {
	return lowerEntry{field, connectors.ErrConfig, func(t *testing.T) error {
		cfg := connectors.ObjectStoreConfig{Bucket: "bodies"}
		edit(&cfg)
		if err := cfg.Validate(); err == nil {
			return nil
		}
		_, err := connectors.NewObjectStore(t.Context(), nil, cfg, nil)
		return err
	}}
}

// coreWith is connectors.NewCoreSource and RegisterMicro with the
// service's default pending limits, edited, as consumerWith is
// NewJetStreamSource.
func coreWith(field string, edit func(msgs, bytes *int)) []lowerEntry {
	core := connectors.CoreSourceConfig{Subject: "fetch.urls", Queue: "fetchstream",
		PendingMsgs: connectors.DefaultPendingBatches, PendingBytes: connectors.DefaultPendingBytes}
	micro := connectors.MicroConfig{Name: "fetchstream", Subject: "fetchstream.fetch",
		PendingMsgs: connectors.DefaultPendingBatches, PendingBytes: connectors.DefaultPendingBytes}
	edit(&core.PendingMsgs, &core.PendingBytes)
	edit(&micro.PendingMsgs, &micro.PendingBytes)
	return []lowerEntry{
		{field, connectors.ErrConfig, func(t *testing.T) error {
			if err := core.Validate(); err == nil {
				return nil
			}
			_, err := connectors.NewCoreSource(t.Context(), nil, core)
			return err
		}},
		{field, connectors.ErrConfig, func(t *testing.T) error {
			if err := micro.Validate(); err == nil {
				return nil
			}
			_, err := connectors.RegisterMicro(nil, nil, micro)
			return err
		}},
	}
}

// publisherWith is connectors.NewPublisher with the given retry bound, as
// consumerWith is NewJetStreamSource.
func publisherWith(field string, retryFor time.Duration) lowerEntry {
	return lowerEntry{field, connectors.ErrConfig, func(t *testing.T) error {
		cfg := connectors.PublisherConfig{Results: "fetch.results", Batches: "fetch.batches", RetryFor: retryFor}
		if err := cfg.Validate(); err == nil {
			return nil
		}
		_, err := connectors.NewPublisher(t.Context(), nil, cfg)
		return err
	}}
}

// The same value gets the same answer, refused or accepted and naming
// the same setting, from every way in: run's flag, its FETCHSTREAM_
// variable, service.Config (service.New) and the constructor of each
// package the setting reaches. A 0 that a package reads as a default is
// accepted everywhere, and says so in the field's doc.
func TestSameValueSameAnswerEverywhere(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		flag, value string
		field       string // the service.Config field; "" where the value is accepted
		config      func(*service.Config)
		lower       []lowerEntry
		with        []string // other flags the setting needs, given on the command line
	}{
		{"concurrency", "0", "Fetch.Concurrency", func(c *service.Config) { c.Fetch.Concurrency = 0 }, []lowerEntry{
			newFetchWith("Concurrency", func(c *engine.FetchConfig) { c.Concurrency = 0 }),
			newFetcherWith("Concurrency", func(c *httpfetch.Config) { c.Concurrency = 0 })}, nil},
		{"window", "0", "Fetch.Window", func(c *service.Config) { c.Fetch.Window = 0 }, []lowerEntry{
			newFetchWith("Window", func(c *engine.FetchConfig) { c.Window = 0 })}, nil},
		{"max-active", "0", "Fetch.MaxActive", func(c *service.Config) { c.Fetch.MaxActive = 0 }, []lowerEntry{
			newFetchWith("MaxActive", func(c *engine.FetchConfig) { c.MaxActive = 0 })}, nil},
		{"max-waiting", "-1", "Fetch.MaxWaiting", func(c *service.Config) { c.Fetch.MaxWaiting = -1 }, []lowerEntry{
			newFetchWith("MaxWaiting", func(c *engine.FetchConfig) { c.MaxWaiting = -1 })}, nil},
		{"max-waiting", "0", "", func(c *service.Config) { c.Fetch.MaxWaiting = 0 }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.MaxWaiting = 0 })}, nil},
		{"reserve-slots", "64", "Fetch.ReserveSlots", func(c *service.Config) { c.Fetch.ReserveSlots = 64 }, []lowerEntry{
			newFetchWith("Reserve", func(c *engine.FetchConfig) { c.Reserve = 64 })}, nil},
		{"per-host", "-1", "Fetch.PerHost", func(c *service.Config) { c.Fetch.PerHost = -1 }, []lowerEntry{
			newFetchWith("PerHost", func(c *engine.FetchConfig) { c.PerHost = -1 })}, nil},
		{"per-host", "0", "", func(c *service.Config) { c.Fetch.PerHost = 0 }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.PerHost = 0 })}, nil},
		{"per-host-rate", "-1", "Fetch.PerHostRate", func(c *service.Config) { c.Fetch.PerHostRate = -1 }, []lowerEntry{
			newFetchWith("PerHostRate", func(c *engine.FetchConfig) { c.PerHostRate = -1 })}, nil},
		{"per-host-rate", "NaN", "Fetch.PerHostRate", func(c *service.Config) { c.Fetch.PerHostRate = nan }, []lowerEntry{
			newFetchWith("PerHostRate", func(c *engine.FetchConfig) { c.PerHostRate = nan })}, nil},
		{"per-host-burst", "-1", "Fetch.PerHostBurst", func(c *service.Config) { c.Fetch.PerHostBurst = -1 }, []lowerEntry{
			newFetchWith("PerHostBurst", func(c *engine.FetchConfig) { c.PerHostBurst = -1 })}, nil},
		{"per-host-burst", "0", "", func(c *service.Config) { c.Fetch.PerHostBurst = 0 }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.PerHostBurst = 0 })}, nil},
		{"per-host-jitter", "1.5", "Fetch.PerHostJitter", func(c *service.Config) { c.Fetch.PerHostJitter = 1.5 }, []lowerEntry{
			newFetchWith("PerHostJitter", func(c *engine.FetchConfig) { c.PerHostJitter = 1.5 })}, nil},
		{"per-host-key", "site", "Fetch.PerHostKey", func(c *service.Config) { c.Fetch.PerHostKey = "site" }, []lowerEntry{
			newFetchWith("PerHostKey", func(c *engine.FetchConfig) { c.PerHostKey = "site" }),
			newDecodeWith("PerHostKey", func(c *stages.DecodeConfig) { c.PerHostKey = "site" })}, nil},
		{"per-host-key", "", "", func(c *service.Config) { c.Fetch.PerHostKey = "" }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.PerHostKey = "" }),
			newDecodeWith("", func(c *stages.DecodeConfig) { c.PerHostKey = "" })}, nil},
		{"per-host-key", "Domain", "", func(c *service.Config) { c.Fetch.PerHostKey = "Domain" }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.PerHostKey = "Domain" }),
			newDecodeWith("", func(c *stages.DecodeConfig) { c.PerHostKey = "Domain" })}, nil},
		{"max-host-pause", "-1s", "Fetch.MaxHostPause", func(c *service.Config) { c.Fetch.MaxHostPause = -time.Second }, []lowerEntry{
			newFetchWith("MaxHostPause", func(c *engine.FetchConfig) { c.MaxHostPause = -time.Second })}, nil},
		{"robots-ttl", "-1s", "Fetch.RobotsTTL", func(c *service.Config) { c.Fetch.RobotsTTL = -time.Second }, []lowerEntry{
			newFetchWith("RobotsTTL", func(c *engine.FetchConfig) { c.RobotsTTL = -time.Second })}, nil},
		{"robots-ttl", "0s", "", func(c *service.Config) { c.Fetch.RobotsTTL = 0 }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.RobotsTTL = 0 })}, nil},
		{"max-held-bytes", "0", "", func(c *service.Config) { c.Fetch.MaxHeldBytes = 0 }, []lowerEntry{
			newFetchWith("", func(c *engine.FetchConfig) { c.MaxHeldBytes = 0 })}, nil},
		{"timeout", "0s", "Fetch.Timeout", func(c *service.Config) { c.Fetch.Timeout = 0 }, []lowerEntry{
			newDecodeWith("DefaultTimeout", func(c *stages.DecodeConfig) { c.DefaultTimeout = 0 })}, nil},
		{"max-timeout", "5s", "Fetch.MaxTimeout", func(c *service.Config) { c.Fetch.MaxTimeout = 5 * time.Second }, []lowerEntry{
			newDecodeWith("MaxTimeout", func(c *stages.DecodeConfig) { c.MaxTimeout = 5 * time.Second })}, nil},
		{"max-batch", "0", "Fetch.MaxBatch", func(c *service.Config) { c.Fetch.MaxBatch = 0 }, []lowerEntry{
			newDecodeWith("MaxBatch", func(c *stages.DecodeConfig) { c.MaxBatch = 0 })}, nil},
		{"max-batch-time", "30s", "Fetch.MaxBatchTime", func(c *service.Config) { c.Fetch.MaxBatchTime = 30 * time.Second }, []lowerEntry{
			newDecodeWith("MaxBatchTime", func(c *stages.DecodeConfig) { c.MaxBatchTime = 30 * time.Second })}, nil},
		{"max-batch-time", "-1s", "Fetch.MaxBatchTime", func(c *service.Config) { c.Fetch.MaxBatchTime = -time.Second }, []lowerEntry{
			newDecodeWith("MaxBatchTime", func(c *stages.DecodeConfig) { c.MaxBatchTime = -time.Second }),
			newFetchWith("MaxBatchTime", func(c *engine.FetchConfig) { c.MaxBatchTime = -time.Second })}, nil},
		{"max-body", "0", "Fetch.MaxBody", func(c *service.Config) { c.Fetch.MaxBody = 0 }, []lowerEntry{
			newFetcherWith("MaxBody", func(c *httpfetch.Config) { c.MaxBody = 0 })}, nil},
		{"max-redirects", "-1", "Fetch.MaxRedirects", func(c *service.Config) { c.Fetch.MaxRedirects = -1 }, []lowerEntry{
			newFetcherWith("MaxRedirects", func(c *httpfetch.Config) { c.MaxRedirects = -1 })}, nil},
		{"max-redirects", "0", "", func(c *service.Config) { c.Fetch.MaxRedirects = 0 }, []lowerEntry{
			newFetcherWith("", func(c *httpfetch.Config) { c.MaxRedirects = 0 })}, nil},
		{"retries", "11", "Fetch.Retries", func(c *service.Config) { c.Fetch.Retries = 11 }, []lowerEntry{
			newFetcherWith("Retries", func(c *httpfetch.Config) { c.Retries = 11 })}, nil},
		{"retry-base", "-1s", "Fetch.RetryBase", func(c *service.Config) { c.Fetch.RetryBase = -time.Second }, []lowerEntry{
			newFetcherWith("RetryBase", func(c *httpfetch.Config) { c.RetryBase = -time.Second })}, nil},
		{"retry-max", "1ms", "Fetch.RetryMax", func(c *service.Config) { c.Fetch.RetryMax = time.Millisecond }, []lowerEntry{
			newFetcherWith("RetryMax", func(c *httpfetch.Config) { c.RetryMax = time.Millisecond })}, nil},
		{"max-request-body", "0", "", func(c *service.Config) { c.Fetch.MaxRequestBody = 0 }, []lowerEntry{
			newFetcherWith("", func(c *httpfetch.Config) { c.MaxRequestBody = 0 })}, nil},
		{"user-agent", "bot\r\nX-Evil: 1", "Fetch.UserAgent", func(c *service.Config) { c.Fetch.UserAgent = "bot\r\nX-Evil: 1" }, []lowerEntry{
			newFetcherWith("UserAgent", func(c *httpfetch.Config) { c.UserAgent = "bot\r\nX-Evil: 1" }),
			newFetchWith("RobotsUserAgent", func(c *engine.FetchConfig) { c.RobotsUserAgent = "bot\r\nX-Evil: 1" })}, nil},
		{"response-headers", "bad name", "Fetch.ResponseHeaders", func(c *service.Config) { c.Fetch.ResponseHeaders = []string{"bad name"} }, []lowerEntry{
			newFetcherWith("ResponseHeaders", func(c *httpfetch.Config) { c.ResponseHeaders = []string{"bad name"} })}, nil},
		{"body", "xml", "Fetch.BodyMode", func(c *service.Config) { c.Fetch.BodyMode = "xml" }, []lowerEntry{
			newFetcherWith("BodyMode", func(c *httpfetch.Config) { c.BodyMode = "xml" })}, nil},
		{"body", "", "", func(c *service.Config) { c.Fetch.BodyMode = "" }, []lowerEntry{
			newFetcherWith("", func(c *httpfetch.Config) { c.BodyMode = "" })}, nil},
		{"stream-replicas", "6", "Storage.Replicas", func(c *service.Config) { c.Storage.Replicas = 6 }, []lowerEntry{
			objectStoreWith("Replicas", func(c *connectors.ObjectStoreConfig) { c.Replicas = 6 }),
			resultsStreamWith("Replicas", func(c *connectors.ResultsStreamConfig) { c.Replicas = 6 }),
			consumerWith("Replicas", func(c *connectors.ConsumerSetup) { c.Replicas = 6 })}, nil},
		{"stream-replicas", "0", "", func(c *service.Config) { c.Storage.Replicas = 0 }, []lowerEntry{
			objectStoreWith("", func(c *connectors.ObjectStoreConfig) { c.Replicas = 0 }),
			resultsStreamWith("", func(c *connectors.ResultsStreamConfig) { c.Replicas = 0 }),
			consumerWith("", func(c *connectors.ConsumerSetup) { c.Replicas = 0 })}, nil},
		{"stream", "FETCH.URLS", "JetStream.Stream", func(c *service.Config) { c.JetStream.Enabled, c.JetStream.Stream = true, "FETCH.URLS" }, []lowerEntry{
			consumerWith("Stream", func(c *connectors.ConsumerSetup) { c.Stream = "FETCH.URLS" })}, []string{"--jetstream"}},
		{"ack-wait", "500ms", "JetStream.AckWait", func(c *service.Config) { c.JetStream.Enabled, c.JetStream.AckWait = true, 500*time.Millisecond }, []lowerEntry{
			consumerWith("AckWait", func(c *connectors.ConsumerSetup) { c.AckWait = 500 * time.Millisecond })}, []string{"--jetstream"}},
		{"max-deliver", "1", "JetStream.MaxDeliver", func(c *service.Config) { c.JetStream.Enabled, c.JetStream.MaxDeliver = true, 1 }, []lowerEntry{
			consumerWith("MaxDeliver", func(c *connectors.ConsumerSetup) { c.MaxDeliver = 1 })}, []string{"--jetstream"}},
		{"max-deliver", "-1", "", func(c *service.Config) { c.JetStream.Enabled, c.JetStream.MaxDeliver = true, -1 }, []lowerEntry{
			consumerWith("", func(c *connectors.ConsumerSetup) { c.MaxDeliver = -1 })}, []string{"--jetstream"}},
		{"results-max-age", "-1s", "Storage.ResultsMaxAge",
			func(c *service.Config) { c.Storage.ResultsStream, c.Storage.ResultsMaxAge = "R", -time.Second }, []lowerEntry{
				resultsStreamWith("MaxAge", func(c *connectors.ResultsStreamConfig) { c.MaxAge = -time.Second })}, []string{"--results-stream", "R"}},
		{"results-max-age", "0s", "", func(c *service.Config) { c.Storage.ResultsStream, c.Storage.ResultsMaxAge = "R", 0 }, []lowerEntry{
			resultsStreamWith("", func(c *connectors.ResultsStreamConfig) { c.MaxAge = 0 })}, []string{"--results-stream", "R"}},
		{"results-stream", "fetch.results", "Storage.ResultsStream", func(c *service.Config) { c.Storage.ResultsStream = "fetch.results" }, []lowerEntry{
			resultsStreamWith("Name", func(c *connectors.ResultsStreamConfig) { c.Name = "fetch.results" })}, nil},
		{"pending-batches", "-1", "Core.PendingBatches", func(c *service.Config) { c.Core.PendingBatches = -1 },
			coreWith("PendingMsgs", func(msgs, _ *int) { *msgs = -1 }), nil},
		{"pending-batches", "0", "", func(c *service.Config) { c.Core.PendingBatches = 0 },
			coreWith("", func(msgs, _ *int) { *msgs = 0 }), nil},
		{"pending-bytes", "10", "Core.PendingBytes", func(c *service.Config) { c.Core.PendingBytes = 10 },
			coreWith("PendingBytes", func(_, bytes *int) { *bytes = 10 }), nil},
		{"pending-bytes", "0", "", func(c *service.Config) { c.Core.PendingBytes = 0 },
			coreWith("", func(_, bytes *int) { *bytes = 0 }), nil},
		{"output-retry-for", "500ms", "JetStream.OutputRetryFor", func(c *service.Config) { c.JetStream.Enabled, c.JetStream.OutputRetryFor = true, 500*time.Millisecond },
			[]lowerEntry{publisherWith("RetryFor", 500*time.Millisecond)}, []string{"--jetstream"}},
		{"output-retry-for", "0s", "", func(c *service.Config) { c.JetStream.Enabled, c.JetStream.OutputRetryFor = true, 0 },
			[]lowerEntry{publisherWith("", 0)}, []string{"--jetstream"}},
		{"object-ttl", "-1s", "Storage.ObjectTTL", func(c *service.Config) { c.Storage.ObjectTTL = -time.Second }, []lowerEntry{
			objectStoreWith("TTL", func(c *connectors.ObjectStoreConfig) { c.TTL = -time.Second })}, nil},
		{"object-store", "bodies.big", "Storage.ObjectStore", func(c *service.Config) { c.Storage.ObjectStore = "bodies.big" }, []lowerEntry{
			objectStoreWith("Bucket", func(c *connectors.ObjectStoreConfig) { c.Bucket = "bodies.big" })}, nil},
	} {
		name := "--" + tc.flag + " " + tc.value
		flagName, variable := "--"+tc.flag, envName(tc.flag)

		// service.Config, through service.New.
		cfg := service.Defaults()
		tc.config(&cfg)
		_, err := service.New(cfg, nil)
		var ce *service.ConfigError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: service.New refused it: %v", name, err)
		case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, service.ErrConfig)):
			t.Errorf("%s: service.New said %v, want a ConfigError naming %s", name, err, tc.field)
		}

		// Each lower package's constructor.
		for _, lower := range tc.lower {
			err := lower.try(t)
			var le *wire.ConfigError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("%s: the constructor refused it: %v", name, err)
			case tc.field != "" && (!errors.As(err, &le) || le.Field != lower.field || !errors.Is(err, lower.sentinel)):
				t.Errorf("%s: the constructor said %v, want a wire.ConfigError naming %s (%v)", name, err, lower.field, lower.sentinel)
			}
		}

		// run's flag, and its FETCHSTREAM_ variable.
		if tc.field == "" {
			if err := newServiceFromFlags(t, append(tc.with, flagName+"="+tc.value)...); err != nil {
				t.Errorf("%s: run refused the flag: %v", name, err)
			}
			if err := newServiceFromEnv(t, variable, tc.value, tc.with...); err != nil {
				t.Errorf("%s: run refused %s: %v", name, variable, err)
			}
			continue
		}
		code, stderr := runStderr(t, append([]string{"run", flagName + "=" + tc.value}, tc.with...)...)
		if want := "fetchstream: " + flagName + " "; code != exitError || !strings.HasPrefix(stderr, want) {
			t.Errorf("%s: run exited %d, %q; want it refused as %q...", name, code, stderr, want)
		}
		t.Setenv(variable, tc.value)
		code, stderr = runStderr(t, append([]string{"run"}, tc.with...)...)
		if want := "fetchstream: " + variable + " (" + flagName + ") "; code != exitError || !strings.HasPrefix(stderr, want) {
			t.Errorf("%s: run with %s exited %d, %q; want it refused as %q...", name, variable, code, stderr, want)
		}
		os.Unsetenv(variable) // t.Setenv restores it at the end
	}
}

// A 0 that a package reads as its default is the service's own default
// too: --pending-batches 0 and --pending-bytes 0 are what run uses when
// they are not given (connectors' TestPendingLimitsZeroIsTheDefault shows
// the subscription keeps them), and every refusal of those settings says
// so in the same words.
func TestPendingZeroIsTheServiceDefault(t *testing.T) {
	d := service.Defaults()
	if d.Core.PendingBatches != connectors.DefaultPendingBatches || d.Core.PendingBytes != connectors.DefaultPendingBytes {
		t.Errorf("service defaults %d batches, %d bytes; want connectors' %d, %d",
			d.Core.PendingBatches, d.Core.PendingBytes, connectors.DefaultPendingBatches, connectors.DefaultPendingBytes)
	}
	for _, tc := range []struct{ flag, value, want string }{
		{"pending-batches", "-1", "(0 means the default, 1024)"},
		{"pending-bytes", "10", "(0 means the default, 67108864)"},
	} {
		if code, stderr := runStderr(t, "run", "--"+tc.flag+"="+tc.value); code != exitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("--%s %s: run exited %d, %q; want it refused saying %q", tc.flag, tc.value, code, stderr, tc.want)
		}
	}
}

// The service always bounds a batch's life and its expansion: there 0 is
// refused, where the stages read it as "none" (their fields' docs say
// so). Every way into the service agrees.
func TestServiceBoundsWhatStagesMayLeaveOpen(t *testing.T) {
	for _, tc := range []struct {
		flag  string
		field string
		edit  func(*service.Config)
		lower lowerEntry
	}{
		{"max-batch-time", "Fetch.MaxBatchTime", func(c *service.Config) { c.Fetch.MaxBatchTime = 0 },
			newDecodeWith("", func(c *stages.DecodeConfig) { c.MaxBatchTime = 0 })},
		{"max-batch-expansion", "Fetch.MaxBatchExpansion", func(c *service.Config) { c.Fetch.MaxBatchExpansion = 0 },
			newDecodeWith("", func(c *stages.DecodeConfig) { c.MaxExpansion = 0 })},
	} {
		cfg := service.Defaults()
		tc.edit(&cfg)
		_, err := service.New(cfg, nil)
		var ce *service.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s 0: service.New said %v, want %s refused", tc.flag, err, tc.field)
		}
		if code, stderr := runStderr(t, "run", "--"+tc.flag+"=0"); code != exitError || !strings.HasPrefix(stderr, "fetchstream: --"+tc.flag+" ") {
			t.Errorf("--%s 0: run exited %d, %q", tc.flag, code, stderr)
		}
		if err := tc.lower.try(t); err != nil {
			t.Errorf("%s 0: stages.NewDecode refused none: %v", tc.flag, err)
		}
	}
	if err := newFetchWith("", func(c *engine.FetchConfig) { c.MaxBatchTime = 0 }).try(t); err != nil {
		t.Errorf("engine.NewFetch refused MaxBatchTime 0 (none): %v", err)
	}
}

// newServiceFromEnv reads run's settings as run does, from args and with
// variable set to value, and returns what service.New says of their Config, in flag
// terms.
func newServiceFromEnv(t *testing.T, variable, value string, args ...string) error {
	t.Helper()
	t.Setenv(variable, value)
	defer os.Unsetenv(variable) // t.Setenv restores it at the end
	var flags runFlags
	fs := flag.NewFlagSet("fetchstream run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags.register(fs)
	fs.String("config", "", "")
	if err := ff.Parse(fs, args, settings.Options(fs, false)...); err != nil {
		return err
	}
	cfg, err := flags.config()
	if err != nil {
		return err
	}
	_, err = service.New(cfg, nil)
	return inFlagTerms(err)
}
