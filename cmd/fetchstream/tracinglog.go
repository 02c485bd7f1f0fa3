package main

import (
	"log/slog"
	"regexp"
	"sync"
	"time"
)

// otelErrorEvery is how often, at most, run logs an error the
// OpenTelemetry SDK reports (a failed export, mostly: one per batch of
// spans while the collector is gone).
const otelErrorEvery = time.Minute

// otelErrorLog is the otel.ErrorHandler run installs while tracing is on:
// it logs the SDK's errors through the service's log at Warn, at most one
// per every, with the number left out since the one before; a URL in an
// error is reduced as endpointForLog reduces the endpoint (no userinfo,
// no query). Its methods may be called from any goroutine.
type otelErrorLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       time.Time // of the last error logged; zero before the first
	suppressed int       // errors not logged since then
}

func newOTelErrorLog(log *slog.Logger) *otelErrorLog {
	return &otelErrorLog{log: log, every: otelErrorEvery, now: time.Now}
}

// Handle logs err, or counts it when one was logged less than every ago.
func (l *otelErrorLog) Handle(err error) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("tracing: OpenTelemetry error", "error", withoutURLSecrets(err.Error()),
		"errors_not_logged", suppressed, "logged_at_most_every", l.every.String())
}

// Final logs err, an error of the provider's shutdown, whenever it comes,
// with the errors not logged before it.
func (l *otelErrorLog) Final(msg string, err error) {
	l.mu.Lock()
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	l.log.Warn(msg, "error", withoutURLSecrets(err.Error()), "errors_not_logged", suppressed)
}

// urlInText finds what looks like a URL in an error's text: a scheme, then
// anything up to a space or a quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>]+`)

// withoutURLSecrets is text with every URL in it reduced by endpointForLog.
func withoutURLSecrets(text string) string {
	return urlInText.ReplaceAllStringFunc(text, endpointForLog)
}
