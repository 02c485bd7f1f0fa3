package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The bench runs end to end and prints its figures as JSON: here the
// latency scenario once, which starts NATS, the target and a service.
// No figure is held to a speed: only to what Little's law allows, which a
// correct bench cannot exceed.
func TestBenchPrintsFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the latency scenario: about 10 s")
	}
	out, err := exec.Command(fetchstreamBinary(t), "bench", "--scenarios", "latency", "--runs", "1", "--json").Output()
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	var report struct {
		Figures []benchFigure `json:"figures"`
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, out)
	}
	got := map[string]float64{}
	for _, f := range report.Figures {
		got[f.Metric] = f.Median
	}
	if r, ok := got["ratio to the P/D limit (3.125 s)"]; !ok || r <= 0 || r > 1.0 {
		t.Errorf("ratio to P/D = %v (present: %v), want in (0, 1]: no scheduler beats Little's law", r, ok)
	}
	if rss := got["peak RSS at 64 in flight"]; rss <= 0 {
		t.Errorf("peak RSS at 64 in flight = %v MiB", rss)
	}
}

// The memory scenario's bare-client child makes its requests and prints
// its peak RSS; a malformed spec is refused.
func TestBareClientChild(t *testing.T) {
	var requests int
	done := make(chan struct{}, 100)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		done <- struct{}{}
		_, _ = w.Write([]byte("ok"))
	}))
	defer target.Close()
	cmd := exec.Command(fetchstreamBinary(t), "bench")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s/a,b,5,3", bareHoldEnv, target.URL))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bare client child: %v", err)
	}
	for len(done) > 0 {
		<-done
		requests++
	}
	if requests != 15 {
		t.Errorf("%d requests, want 5 in flight × 3 waves = 15", requests)
	}
	if rss, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err != nil || rss < 1<<20 {
		t.Errorf("printed %q, want its peak RSS in bytes", out)
	}

	cmd = exec.Command(fetchstreamBinary(t), "bench")
	cmd.Env = append(os.Environ(), bareHoldEnv+"=http://x,many,1")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "want URL,IN_FLIGHT,WAVES") {
		t.Errorf("malformed spec: err %v, output %q", err, out)
	}
}
