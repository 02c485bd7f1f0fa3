package main

import (
	"strings"
	"testing"
)

// An OTEL_* setting run cannot honour stops it at once, naming the
// variable, before it connects to anything.
func TestRunRefusesTracingItCannotDo(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, `OTEL_TRACES_EXPORTER="zipkin"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			`OTLP protocol "http/json"`},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		code, stderr := runStderr(t, "run", "--listen", "127.0.0.1:-1")
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want 1 and one line with %s", tc.env, code, stderr, tc.want)
		}
		for k := range tc.env {
			t.Setenv(k, "")
		}
	}
}

func TestEndpointForLog(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "(the exporter's default)",
		"https://u:secret@c.example:4318/x?t=1": "https://c.example:4318/x",
		"c.example:4317":                        "(14 bytes, not a URL)",
	} {
		if got := endpointForLog(in); got != want || strings.Contains(got, "secret") {
			t.Errorf("endpointForLog(%q) = %q, want %q", in, got, want)
		}
	}
}
