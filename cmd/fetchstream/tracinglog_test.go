package main

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
)

const exportErr = `traces export: Post "http://user:s3cret@collector.example:4318/v1/traces?token=t0ken": dial tcp 10.0.0.1:4318: connect: connection refused`

// The SDK's errors are logged at Warn at most once a minute, with how
// many were left out, and never with a URL's userinfo or query.
func TestOTelErrorsLoggedRateLimited(t *testing.T) {
	var out syncBuffer
	l := newOTelErrorLog(slog.New(slog.NewTextHandler(&out, nil)))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for range 5 {
		l.Handle(errors.New(exportErr))
	}
	now = now.Add(otelErrorEvery)
	l.Handle(errors.New(exportErr))
	l.Handle(errors.New(exportErr))
	l.Final("at exit", errors.New(exportErr))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (first, a minute later, at exit):\n%s", len(lines), out.String())
	}
	for i, want := range []string{"errors_not_logged=0", "errors_not_logged=4", "errors_not_logged=1"} {
		if !strings.Contains(lines[i], "level=WARN") || !strings.Contains(lines[i], want) ||
			!strings.Contains(lines[i], "http://collector.example:4318/v1/traces") {
			t.Errorf("line %d: %s; want a warning with %s and the endpoint reduced", i+1, lines[i], want)
		}
	}
	if strings.Contains(out.String(), "s3cret") || strings.Contains(out.String(), "t0ken") {
		t.Errorf("a URL's userinfo or query logged:\n%s", out.String())
	}
}

// With tracing on, the SDK's errors go to the service's log, not to
// stderr through the standard logger.
func TestStartTracingInstallsTheErrorLog(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:s3cret@127.0.0.1:1")
	var out syncBuffer
	_, stop, err := startTracing(t.Context(), slog.New(slog.NewTextHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	otel.Handle(errors.New(exportErr))
	if got := out.String(); !strings.Contains(got, "tracing: OpenTelemetry error") || strings.Contains(got, "s3cret") {
		t.Errorf("log %q: want the error, without the secret", got)
	}
}
