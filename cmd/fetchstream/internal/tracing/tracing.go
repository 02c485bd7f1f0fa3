// Package tracing sets up fetchstream's OpenTelemetry tracer provider
// the standard way, from the OTEL_* environment variables, and counts the
// spans it could not export.
//
// Tracing is on when an OTLP endpoint is named
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or
// OTEL_TRACES_EXPORTER is "otlp"; it is off, and FromEnv returns nil,
// when nothing is set, when OTEL_TRACES_EXPORTER is "none", or when
// OTEL_SDK_DISABLED is "true". The exporter speaks OTLP over
// HTTP/protobuf, or gRPC when OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or
// OTEL_EXPORTER_OTLP_PROTOCOL) says "grpc"; the exporters read their
// endpoint, headers, timeout, compression and TLS settings from the
// environment themselves. The sampler is OTEL_TRACES_SAMPLER's (with
// _ARG; parent-based always-on by default), the resource
// OTEL_SERVICE_NAME's and OTEL_RESOURCE_ATTRIBUTES' (the service name is
// "fetchstream" unless they say otherwise).
//
// Never blocking: spans go through the SDK's BatchSpanProcessor, behind a
// bound of OTEL_BSP_MAX_QUEUE_SIZE spans (2048 by default) waiting to be
// exported. A span ended while that many wait (the collector is slow or
// gone) is dropped at once and counted (Provider.Dropped); spans whose
// export failed are counted too (Provider.ExportFailed). The SDK has no
// public counter of its own drops, so the bound is kept here, in front of
// the processor, whose own queue is sized past it and never fills.
//
// Bounded in bytes too: unless OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT (or
// OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT) and OTEL_SPAN_EVENT_COUNT_LIMIT say
// otherwise, a span attribute's value is cut to DefaultAttributeValueLength
// bytes and a span keeps at most DefaultEventCount events (see SpanLimits).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ErrConfig is wrapped by the errors of a tracing configuration that
// cannot be set up.
var ErrConfig = errors.New("invalid OpenTelemetry configuration")

// DefaultQueue is the bound on spans waiting to be exported when
// OTEL_BSP_MAX_QUEUE_SIZE does not set one (the SDK's default).
const DefaultQueue = 2048

// DefaultAttributeValueLength is the longest span attribute value kept,
// in bytes, when the environment does not set one (the SDK's default is
// no limit).
const DefaultAttributeValueLength = 2 << 10

// DefaultEventCount is the most events a span keeps when the environment
// does not set it (the SDK's default is 128): the fetcher's events of a
// URL and of an attempt (its redirects, 10 by default) fit.
const DefaultEventCount = 16

// defaultServiceName names the service when the environment does not.
const defaultServiceName = "fetchstream"

// Provider is a tracer provider that exports what its spans record, and
// counts what it could not. Its methods may be called from any goroutine.
type Provider struct {
	tp *sdktrace.TracerProvider
	// queued counts the spans handed to the batch processor and not yet to
	// the exporter; bound caps it.
	queued, dropped, failed atomic.Int64
	bound                   int64
	// Protocol and Endpoint say where spans go, for the start-up log
	// ("" endpoint: the exporter's default).
	Protocol, Endpoint string
}

// Enabled reports whether the environment turns tracing on (see the
// package doc), through lookup (os.LookupEnv in FromEnv).
func Enabled(lookup func(string) (string, bool)) bool {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch exporter := strings.ToLower(get("OTEL_TRACES_EXPORTER")); exporter {
	case "none":
		return false
	case "otlp":
		return true
	}
	return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv builds the Provider the OTEL_* variables describe, or returns
// nil when they leave tracing off. It makes no connection: the exporter
// connects when it first exports. An exporter it does not support (set
// alone or not), a protocol it does not speak, or a bad queue size is an
// error wrapping ErrConfig.
func FromEnv(ctx context.Context) (*Provider, error) {
	disabled := strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true")
	if e := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))); !disabled && e != "" && e != "otlp" && e != "none" {
		return nil, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q: fetchstream exports traces over OTLP only (otlp or none)", ErrConfig, e)
	}
	if !Enabled(os.LookupEnv) {
		return nil, nil
	}
	bound := DefaultQueue
	if v := strings.TrimSpace(os.Getenv("OTEL_BSP_MAX_QUEUE_SIZE")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: OTEL_BSP_MAX_QUEUE_SIZE=%q: must be a positive number of spans", ErrConfig, v)
		}
		bound = n
	}
	protocol := cmpEnv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	endpoint := cmpEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if err := checkHTTPEndpoint(protocol, endpoint); err != nil {
		return nil, err
	}
	var (
		exporter sdktrace.SpanExporter
		err      error
	)
	switch protocol {
	case "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("%w: OTLP protocol %q: fetchstream speaks http/protobuf (the default) or grpc", ErrConfig, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: OTLP exporter: %w", ErrConfig, err)
	}
	// Later detectors win: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
	// over the default name.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(defaultServiceName)), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("%w: resource: %w", ErrConfig, err)
	}
	p := New(exporter, res, bound)
	p.Protocol, p.Endpoint = protocol, endpoint
	return p, nil
}

// checkHTTPEndpoint refuses an OTLP/HTTP endpoint that is not an http or
// https URL with a host (the exporter would log a parse error of its own
// and export nothing, while the service said tracing was on).
func checkHTTPEndpoint(protocol, endpoint string) error {
	if protocol != "http/protobuf" || endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: the OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, %d bytes) is not a URL such as http://host:4318", ErrConfig, len(endpoint))
	}
	return nil
}

// cmpEnv is the first of the two variables that is set, or def.
func cmpEnv(specific, general, def string) string {
	for _, k := range []string{specific, general} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return def
}

// New returns a Provider that exports to exporter through a batch
// processor, at most bound spans waiting; res describes the service
// (nil: the SDK's default). The sampler is the SDK's default, which
// OTEL_TRACES_SAMPLER sets. Tests give it an in-memory exporter.
func New(exporter sdktrace.SpanExporter, res *resource.Resource, bound int) *Provider {
	p := &Provider{bound: int64(max(bound, 1))}
	// The processor's own queue holds at most what the bound lets in;
	// sized past it (and a batch), it never drops a span on its own.
	bsp := sdktrace.NewBatchSpanProcessor(&countingExporter{SpanExporter: exporter, p: p},
		sdktrace.WithMaxQueueSize(int(p.bound)+sdktrace.DefaultMaxExportBatchSize))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(&boundedProcessor{SpanProcessor: bsp, p: p}),
		sdktrace.WithRawSpanLimits(SpanLimits(os.LookupEnv))}
	if res != nil {
		opts = append(opts, sdktrace.WithResource(res))
	}
	p.tp = sdktrace.NewTracerProvider(opts...)
	return p
}

// SpanLimits are the SDK's limits as the OTEL_SPAN_* variables set them
// (read through lookup), with fetchstream's defaults where they are unset:
// attribute values of at most DefaultAttributeValueLength bytes, at most
// DefaultEventCount events per span.
func SpanLimits(lookup func(string) (string, bool)) sdktrace.SpanLimits {
	limits := sdktrace.NewSpanLimits()
	set := func(k string) bool { v, ok := lookup(k); return ok && strings.TrimSpace(v) != "" }
	if !set("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT") && !set("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT") {
		limits.AttributeValueLengthLimit = DefaultAttributeValueLength
	}
	if !set("OTEL_SPAN_EVENT_COUNT_LIMIT") {
		limits.EventCountLimit = DefaultEventCount
	}
	return limits
}

// TracerProvider is the provider the service's spans start from.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Dropped is the number of spans dropped because the bound of spans
// waiting to be exported was reached.
func (p *Provider) Dropped() int64 { return p.dropped.Load() }

// ExportFailed is the number of spans whose export failed (the collector
// refused them or could not be reached within the exporter's timeout and
// retries).
func (p *Provider) ExportFailed() int64 { return p.failed.Load() }

// Shutdown exports what waits, within ctx, and stops the provider.
func (p *Provider) Shutdown(ctx context.Context) error { return p.tp.Shutdown(ctx) }

// boundedProcessor lets a sampled span on to the batch processor only
// while fewer than the bound wait to be exported; past it the span is
// dropped and counted. OnEnd never blocks.
type boundedProcessor struct {
	sdktrace.SpanProcessor
	p *Provider
}

func (b *boundedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor exports sampled spans only
	}
	if b.p.queued.Add(1) > b.p.bound {
		b.p.queued.Add(-1)
		b.p.dropped.Add(1)
		return
	}
	b.SpanProcessor.OnEnd(s)
}

// countingExporter counts the spans the batch processor hands over (they
// no longer wait) and those whose export failed.
type countingExporter struct {
	sdktrace.SpanExporter
	p *Provider
}

func (c *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.p.queued.Add(-int64(len(spans)))
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		c.p.failed.Add(int64(len(spans)))
	}
	return err
}
