package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/tracing"
)

// tracingShutdownGrace bounds the export of the spans still waiting when
// run ends.
const tracingShutdownGrace = 5 * time.Second

// startTracing builds the tracer provider the OTEL_* variables describe
// (see package tracing), logs where it exports, and returns it with the
// function that flushes and stops it; nil and a no-op when tracing is off.
// While tracing is on, the SDK's errors (a failed export) go to log at
// Warn, at most one a minute, without a URL's userinfo or query (see
// otelErrorLog), and so does an error of the flush at exit.
func startTracing(ctx context.Context, log *slog.Logger) (*tracing.Provider, func(), error) {
	tp, err := tracing.FromEnv(ctx)
	if err != nil {
		return nil, nil, err
	}
	if tp == nil {
		return nil, func() {}, nil
	}
	errLog := newOTelErrorLog(log)
	otel.SetErrorHandler(errLog)
	log.Info("tracing on: spans exported over OTLP", "protocol", tp.Protocol, "endpoint", endpointForLog(tp.Endpoint))
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingShutdownGrace)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			errLog.Final("tracing: spans not all exported at exit", err)
		}
	}
	return tp, stop, nil
}

// endpointForLog is an endpoint as the log may show it: its scheme, host
// and path, never userinfo or a query (an endpoint may carry a token).
func endpointForLog(endpoint string) string {
	if endpoint == "" {
		return "(the exporter's default)"
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("(%d bytes, not a URL)", len(endpoint))
	}
	return u.Scheme + "://" + u.Host + u.Path
}
