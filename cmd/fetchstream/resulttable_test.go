package main

import (
	"bytes"
	"strings"
	"testing"
)

// A summary's error counts read as kind=count, in order, not as a Go map.
func TestSummaryErrorCounts(t *testing.T) {
	var buf bytes.Buffer
	printMessage(&buf, []byte(`{"batch_id":"b1","count":4,"ok":1,"failed":3,"errors":{"timeout":2,"http_error":1},"elapsed_ms":12}`), true, false)
	if want := "batch b1 done: 4 URLs, 1 ok, 3 failed (http_error=1 timeout=2) in 12 ms\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	buf.Reset()
	printMessage(&buf, []byte(`{"batch_id":"b2","count":1,"ok":1,"elapsed_ms":3}`), true, false)
	if want := "batch b2 done: 1 URL, 1 ok, 0 failed in 3 ms\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	buf.Reset()
	printMessage(&buf, []byte(`{"batch_id":"b3","error":"batch_too_large","message":"12 URLs, over 10"}`), true, false)
	if want := "batch b3 rejected: batch_too_large: 12 URLs, over 10\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
}

// A failed result's row is followed by its message, indented and on one
// line; an http_error row, and a row that succeeded, stand alone.
func TestFailureMessages(t *testing.T) {
	var buf bytes.Buffer
	printMessage(&buf, []byte(`{"batch_id":"b1","index":0,"count":3,"url":"http://10.0.0.1/","error":"blocked","message":"destination 10.0.0.1\nis private"}`), false, false)
	printMessage(&buf, []byte(`{"batch_id":"b1","index":1,"count":3,"url":"http://a/","error":"http_error","status":404}`), false, false)
	printMessage(&buf, []byte(`{"batch_id":"b1","index":2,"count":3,"url":"http://a/ok","status":200,"elapsed_ms":7}`), false, false)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "blocked") || lines[1] != messageIndent+"destination 10.0.0.1 is private" ||
		!strings.Contains(lines[2], "http_error") || !strings.Contains(lines[3], "200") {
		t.Errorf("printed:\n%s", buf.String())
	}
	if f := strings.Fields(lines[0]); len(f) < 6 || f[0] != "b1" || f[1] != "0/3" || f[2] != "-" || f[5] != "http://10.0.0.1/" {
		t.Errorf("row %q, want b1 0/3 - blocked 0 http://10.0.0.1/", lines[0])
	}
}

// JSON prints the message as it came; what does not decode is marked.
func TestMessageAsItCame(t *testing.T) {
	var buf bytes.Buffer
	printMessage(&buf, []byte(`{"url":"x"}`), false, true)
	printMessage(&buf, []byte(`not json`), false, false)
	if want := "{\"url\":\"x\"}\n? not json\n"; buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
}
