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
