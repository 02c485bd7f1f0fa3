package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// JSON logs give durations as Go writes them, not in nanoseconds.
func TestLogsWriteDurationsAsText(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log, err := newLogger(&buf, format, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Info("x", "grace", 30*time.Second, "timeout", 1500*time.Millisecond)
		for _, want := range map[string][]string{"json": {`"grace":"30s"`, `"timeout":"1.5s"`}, "text": {"grace=30s", "timeout=1.5s"}}[format] {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s log %q lacks %s", format, buf.String(), want)
			}
		}
	}
}

// Sizes read back as the docs write them, so -h shows 256KiB.
func TestByteSizeString(t *testing.T) {
	for n, want := range map[int64]string{256 << 10: "256KiB", 64 << 20: "64MiB", 1 << 30: "1GiB", 1000: "1000", 0: "0", 1536: "1536"} {
		b := byteSize(n)
		if got := b.String(); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
		var back byteSize
		if err := back.Set(want); err != nil || back != b {
			t.Errorf("Set(%q) = %d, %v; want %d", want, back, err, n)
		}
	}
}
