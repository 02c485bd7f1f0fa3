package service

import (
	"errors"
	"reflect"
	"regexp"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
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
		MaxBatchTime: f.MaxBatchTime, PerHostKey: stages.HostKeyMode(f.PerHostKey),
		MaxExpansion: f.MaxBatchExpansion, ExpansionSetting: "--max-batch-expansion",
	}
}

// stageConfig is the fetch stage f describes, telling obs what it does.
func (f *FetchConfig) stageConfig(obs stages.Observer) stages.FetchConfig {
	return stages.FetchConfig{
		Concurrency: f.Concurrency, Window: f.Window, MaxActive: f.MaxActive,
		MaxWaiting: f.MaxWaiting, MaxBatchTime: f.MaxBatchTime,
		PerHost: f.PerHost, PerHostRate: f.PerHostRate, PerHostBurst: f.PerHostBurst, PerHostJitter: f.PerHostJitter,
		PerHostKey: stages.HostKeyMode(f.PerHostKey), MaxHostPause: f.MaxHostPause,
		Robots: f.Robots, RobotsTTL: f.RobotsTTL, RobotsUserAgent: f.UserAgent,
		Observer: obs,
		Reserve:  f.reserve(), MaxHeldBytes: f.MaxHeldBytes,
	}
}

// reserve is the stage's reserve of slots ReserveSlots describes.
func (f *FetchConfig) reserve() int {
	if f.ReserveSlots < 0 {
		return stages.DefaultReserve(f.Concurrency)
	}
	return f.ReserveSlots
}

// fieldFrom names the Config field behind each field of a lower
// package's config (stages.DecodeConfig, stages.FetchConfig,
// httpfetch.Config) that decodeConfig, stageConfig and fetcherConfig
// fill from a differently named one; any other field F comes from
// Fetch.F.
var fieldFrom = map[string]string{
	"DefaultTimeout":  "Fetch.Timeout",
	"MaxExpansion":    "Fetch.MaxBatchExpansion",
	"Reserve":         "Fetch.ReserveSlots",
	"RobotsUserAgent": "Fetch.UserAgent",
	"MaxObject":       "Storage.MaxObject",
}

// lowerFields are the field names of the lower packages' configs: those
// words, and no others, an error's Problem may name.
var lowerFields = fieldNames(stages.DecodeConfig{}, stages.FetchConfig{}, httpfetch.Config{})

func fieldNames(configs ...any) map[string]bool {
	names := map[string]bool{}
	for _, c := range configs {
		t := reflect.TypeOf(c)
		for i := range t.NumField() {
			names[t.Field(i).Name] = true
		}
	}
	return names
}

// lowerField is a field name as the lower packages' errors write it.
var lowerField = regexp.MustCompile(`\b[A-Z][A-Za-z]*\b`)

// inServiceTerms is a lower package's *wire.ConfigError as a
// *ConfigError naming Config's fields: its Field, and the fields its
// Problem names ("must not be below DefaultTimeout" reads "must not be
// below Fetch.Timeout"), the same rule in the service's words.
func inServiceTerms(err error) error {
	var lower *wire.ConfigError
	if !errors.As(err, &lower) {
		return &ConfigError{Field: "Fetch", Problem: err.Error()}
	}
	rename := func(name string) string {
		if !lowerFields[name] {
			return name
		}
		if from, ok := fieldFrom[name]; ok {
			return from
		}
		return "Fetch." + name
	}
	return &ConfigError{Field: rename(lower.Field), Problem: lowerField.ReplaceAllStringFunc(lower.Problem, rename)}
}
