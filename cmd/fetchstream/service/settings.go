package service

import (
	"cmp"
	"errors"
	"reflect"
	"regexp"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/stages/polite"
	"github.com/fetchstream/fetchstream/wire"
)

// pullCredit is how many batches a JetStream replica holds unsettled at
// most: what the fetch stage takes, and two waiting so it never idles.
// Batches that only wait for their hosts lend it more, up to MaxWaiting
// (see connectors.JetStreamSource.SetWaiting).
func pullCredit(maxActive int) int { return maxActive + 2 }

// consumerSetup is the durable consumer j describes over the subject in,
// on a stream of the given replicas when it is created, on the embedded
// server or not.
func (j *JetStreamConfig) consumerSetup(in string, replicas int, embedded bool) connectors.ConsumerSetup {
	return connectors.ConsumerSetup{
		Stream: j.Stream, Subject: in, Durable: j.Durable,
		AckWait: j.AckWait, MaxDeliver: j.MaxDeliver, MaxAckPending: j.MaxAckPending,
		Replicas: replicas, Embedded: embedded,
	}
}

// resultsStreamConfig is the results stream cfg.Storage names, over the
// results and summaries subjects, its duplicate window spanning a batch's
// deliveries in JetStream mode (see connectors.DuplicateWindow).
func (cfg *Config) resultsStreamConfig() connectors.ResultsStreamConfig {
	st, j := &cfg.Storage, &cfg.JetStream
	maxAge := cmp.Or(st.ResultsMaxAge, connectors.DefaultResultsMaxAge)
	window := connectors.MinDuplicateWindow
	if j.Enabled {
		retryFor := cmp.Or(j.OutputRetryFor, connectors.DefaultOutputRetryFor)
		window = connectors.DuplicateWindow(j.AckWait, j.MaxDeliver, retryFor, maxAge)
	}
	return connectors.ResultsStreamConfig{
		Name: st.ResultsStream, Subjects: resultsSubjects(cfg),
		MaxAge: maxAge, Duplicates: min(window, maxAge), Replicas: st.Replicas,
	}
}

// resultsSubjects are the subjects a results stream captures: results,
// summaries, and changes when they have a subject of their own.
func resultsSubjects(cfg *Config) []string {
	subjects := []string{cfg.Subjects.Out, cfg.Subjects.Batches}
	if c := cfg.Subjects.Changes; c != "" && c != cfg.Subjects.Out && c != cfg.Subjects.Batches {
		subjects = append(subjects, c)
	}
	return subjects
}

// objectStoreConfig is the Object Store bucket st names.
func (st *StorageConfig) objectStoreConfig() connectors.ObjectStoreConfig {
	return connectors.ObjectStoreConfig{Bucket: st.ObjectStore, TTL: st.ObjectTTL, Replicas: st.Replicas}
}

// validatorsConfig is the validators bucket st names.
func (st *StorageConfig) validatorsConfig() connectors.ValidatorsConfig {
	return connectors.ValidatorsConfig{Bucket: st.Validators, TTL: st.ValidatorsTTL, Replicas: st.Replicas,
		LookupTimeout: st.ValidatorsTimeout, MaxBytes: st.ValidatorsMaxBytes}
}

// coreSourceConfig is the core input cfg describes, less its reply
// policy; the micro endpoint takes the same pending limits.
func (cfg *Config) coreSourceConfig() connectors.CoreSourceConfig {
	return connectors.CoreSourceConfig{Subject: cfg.Subjects.In, Queue: cfg.Core.Queue,
		PendingMsgs: cfg.Core.PendingBatches, PendingBytes: int(cfg.Core.PendingBytes)}
}

// fetcherConfig is the HTTP fetcher f describes.
func (f *FetchConfig) fetcherConfig() httpfetch.Config {
	return httpfetch.Config{
		Concurrency:  f.Concurrency,
		MaxBody:      f.MaxBody,
		RefuseLarge:  f.RefuseLarge,
		MaxRedirects: f.MaxRedirects,
		Retries:      f.Retries,
		RetryBase:    f.RetryBase,
		RetryMax:     f.RetryMax,
		BodyMode:     httpfetch.BodyMode(f.BodyMode),
		Policy:       httpfetch.Policy{AllowPrivate: f.AllowPrivate, AllowNets: f.AllowNets, Advice: f.BlockedAdvice},

		UserAgent:       f.UserAgent,
		MaxRequestBody:  f.MaxRequestBody,
		ResponseHeaders: f.ResponseHeaders,
		Credentials:     f.Credentials,
	}
}

// decodeConfig is the decode stage f describes.
func (f *FetchConfig) decodeConfig() stages.DecodeConfig {
	return stages.DecodeConfig{
		MaxBatch: f.MaxBatch, DefaultTimeout: f.Timeout, MaxTimeout: f.MaxTimeout,
		MaxBatchTime: f.MaxBatchTime, PerHostKey: polite.HostKeyMode(f.PerHostKey),
		MaxExpansion: f.MaxBatchExpansion, ExpansionSetting: "--max-batch-expansion",
	}
}

// stageConfig is the fetch stage f describes, telling obs what it does.
func (f *FetchConfig) stageConfig(obs engine.Observer) engine.FetchConfig {
	return engine.FetchConfig{
		Concurrency: f.Concurrency, Window: f.Window, MaxActive: f.MaxActive,
		MaxWaiting: f.MaxWaiting, MaxBatchTime: f.MaxBatchTime,
		PerHost: f.PerHost, PerHostRate: f.PerHostRate, PerHostBurst: f.PerHostBurst, PerHostJitter: f.PerHostJitter,
		PerHostKey: polite.HostKeyMode(f.PerHostKey), MaxHostPause: f.MaxHostPause,
		Robots: f.Robots, RobotsTTL: f.RobotsTTL, RobotsUserAgent: f.UserAgent,
		Observer: obs,
		Reserve:  f.reserve(), MaxHeldBytes: f.MaxHeldBytes,
	}
}

// reserve is the stage's reserve of slots ReserveSlots describes.
func (f *FetchConfig) reserve() int {
	if f.ReserveSlots < 0 {
		return engine.DefaultReserve(f.Concurrency)
	}
	return f.ReserveSlots
}

// fetchTerms names the Config field behind each field of the configs
// FetchConfig fans out to (stages.DecodeConfig, engine.FetchConfig,
// httpfetch.Config): Fetch.F for a field F, but where decodeConfig,
// stageConfig and fetcherConfig fill it from a field named otherwise.
var fetchTerms = fieldTerms("Fetch.", map[string]string{
	"DefaultTimeout":  "Fetch.Timeout",
	"MaxExpansion":    "Fetch.MaxBatchExpansion",
	"Reserve":         "Fetch.ReserveSlots",
	"RobotsUserAgent": "Fetch.UserAgent",
	"MaxObject":       "Storage.MaxObject",
}, stages.DecodeConfig{}, engine.FetchConfig{}, httpfetch.Config{})

// consumerTerms names the Config field behind each field of the
// connectors.ConsumerSetup that consumerSetup fills.
var consumerTerms = fieldTerms("JetStream.", map[string]string{
	"Subject": "Subjects.In", "Replicas": "Storage.Replicas", "SetupTimeout": "StartupTimeout",
}, connectors.ConsumerSetup{})

// coreTerms names the Config field behind each field of the
// connectors.CoreSourceConfig and PublisherConfig that the service fills.
var coreTerms = fieldTerms("Core.", map[string]string{
	"Subject": "Subjects.In", "PendingMsgs": "Core.PendingBatches",
	"Results": "Subjects.Out", "Batches": "Subjects.Batches", "RetryFor": "JetStream.OutputRetryFor",
}, connectors.CoreSourceConfig{}, connectors.PublisherConfig{})

// storageTerms names the Config field behind each field of the
// connectors.ResultsStreamConfig and ObjectStoreConfig that
// resultsStreamConfig and objectStoreConfig fill.
var storageTerms = fieldTerms("Storage.", map[string]string{
	"Name": "Storage.ResultsStream", "Subjects": "Subjects.Out", "MaxAge": "Storage.ResultsMaxAge",
	"Duplicates": "Storage.ResultsMaxAge", "Bucket": "Storage.ObjectStore", "TTL": "Storage.ObjectTTL",
}, connectors.ResultsStreamConfig{}, connectors.ObjectStoreConfig{})

// validatorsTerms names the Config field behind each field of the
// connectors.ValidatorsConfig that validatorsConfig fills.
var validatorsTerms = fieldTerms("Storage.", map[string]string{
	"Bucket": "Storage.Validators", "TTL": "Storage.ValidatorsTTL", "LookupTimeout": "Storage.ValidatorsTimeout",
	"MaxBytes": "Storage.ValidatorsMaxBytes",
}, connectors.ValidatorsConfig{})

// fieldTerms maps every field name of configs to the Config field renamed
// gives, or else to prefix and the same name.
func fieldTerms(prefix string, renamed map[string]string, configs ...any) map[string]string {
	terms := map[string]string{}
	for _, c := range configs {
		t := reflect.TypeOf(c)
		for i := range t.NumField() {
			name := t.Field(i).Name
			terms[name] = cmp.Or(renamed[name], prefix+name)
		}
	}
	return terms
}

// lowerField is a field name as the lower packages' errors write it.
var lowerField = regexp.MustCompile(`\b[A-Z][A-Za-z]*\b`)

// inServiceTerms is a lower package's *wire.ConfigError as a
// *ConfigError naming Config's fields as terms says: its Field, and the
// fields its Problem names ("must not be below DefaultTimeout" reads
// "must not be below Fetch.Timeout"), the same rule in the service's
// words. Any other error (none is expected) is kept whole, as the
// Problem of a field named "Config".
func inServiceTerms(err error, terms map[string]string) error {
	var lower *wire.ConfigError
	if !errors.As(err, &lower) {
		return &ConfigError{Field: "Config", Problem: err.Error()}
	}
	rename := func(name string) string { return cmp.Or(terms[name], name) }
	return &ConfigError{Field: rename(lower.Field), Problem: lowerField.ReplaceAllStringFunc(lower.Problem, rename)}
}
