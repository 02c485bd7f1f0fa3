package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A value that a FETCHSTREAM_<FLAG> variable set and the service refuses
// names the variable, where the user must change it; the same value on
// the command line names the flag alone.
func TestRefusedValueNamesItsVariable(t *testing.T) {
	t.Setenv("FETCHSTREAM_MAX_WAITING", "-5")
	code, stderr := runStderr(t, "run")
	if want := "fetchstream: FETCHSTREAM_MAX_WAITING (--max-waiting) must not be negative, got -5\n"; code != exitError || stderr != want {
		t.Errorf("exit %d, stderr %q; want %q", code, stderr, want)
	}
	code, stderr = runStderr(t, "run", "--max-waiting", "-3")
	if want := "fetchstream: --max-waiting must not be negative, got -3\n"; code != exitError || stderr != want {
		t.Errorf("the command line wins: exit %d, stderr %q; want %q", code, stderr, want)
	}
}

// --max-timeout past the default --max-batch-time (15m) raises it, when
// --max-batch-time is not given: the start goes on to the next mistake
// (here --per-host -1). A --max-batch-time given below it is refused.
func TestMaxBatchTimeFollowsMaxTimeout(t *testing.T) {
	code, stderr := runStderr(t, "run", "--max-timeout", "20m", "--per-host", "-1")
	if code != exitError || strings.Contains(stderr, "max-batch-time") || !strings.Contains(stderr, "--per-host must not be negative") {
		t.Errorf("--max-timeout 20m: exit %d, stderr %q; want --per-host's error alone", code, stderr)
	}
	code, stderr = runStderr(t, "run", "--max-timeout", "20m", "--max-batch-time", "16m")
	if code != exitError || !strings.Contains(stderr, "--max-batch-time (16m0s) must be at least --max-timeout (20m0s)") {
		t.Errorf("--max-batch-time 16m: exit %d, stderr %q", code, stderr)
	}
}

// run's log reads in run's flags, not the service's Config fields: the
// warning of a stream over a core-mode input says --jetstream.
func TestRunLogSpeaksInFlags(t *testing.T) {
	var buf bytes.Buffer
	log := inFlagTermsLog(slog.New(slog.NewTextHandler(&buf, nil))).With("hint", "set Fetch.MaxBatchTime")
	log.Warn("consume it in JetStream mode (JetStream.Enabled) or delete the stream", "detail", "see JetStream.AckWait", "n", 3)
	out := buf.String()
	for _, want := range []string{"consume it in JetStream mode (--jetstream)", "hint=\"set --max-batch-time\"", "detail=\"see --ack-wait\"", "n=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q does not say %q", out, want)
		}
	}
	if strings.Contains(out, "JetStream.") {
		t.Errorf("log %q names a Config field", out)
	}
}

// So it is for publish: a FETCHSTREAM_ variable that sets a value
// publish refuses is named.
func TestPublishRefusedValueNamesItsVariable(t *testing.T) {
	t.Setenv("FETCHSTREAM_MAX_BATCH", "0")
	code, stderr := runStderr(t, "publish", "http://127.0.0.1:1/")
	if want := "fetchstream: FETCHSTREAM_MAX_BATCH (--max-batch) must be at least 1, got 0\n"; code != exitError || stderr != want {
		t.Errorf("exit %d, stderr %q; want %q", code, stderr, want)
	}
}
