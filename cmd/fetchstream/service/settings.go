package service

import (
	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/engine"
	"github.com/fetchstream/fetchstream/stages/engine/polite"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
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
