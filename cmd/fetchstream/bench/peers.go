package bench

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// peerScripts are what users run today, in Python: the seed's pattern
// (asyncio.gather, a Semaphore(64), urllib in asyncio.to_thread) and
// aiohttp with gather. Each takes URL N P and prints one JSON line.
//
//go:embed peers/*.py
var peerScripts embed.FS

// peer is one Python peer: its script, and whether it needs aiohttp.
type peer struct {
	name, script string
	aiohttp      bool
}

// peers are named short, for the table: the seed pattern is gather +
// Semaphore(64) + to_thread(urllib); aiohttp + gather has a Semaphore(64).
var peers = []peer{
	{"seed pattern", "seed.py", false},
	{"aiohttp + gather", "aiohttp_gather.py", true},
}

// peersScenario runs each peer on the latency load (LatencyURLs URLs of
// 100 ms) and on OverheadURLs zero-delay URLs, at 64, from the same
// target, in turns. It needs python3, and aiohttp for the aiohttp peer:
// what is missing is skipped, with a note that says so.
func (e *env) peersScenario(ctx context.Context) (figures []Figure, note string, err error) {
	python, hasAiohttp := findPython(ctx, e.cfg.Python)
	if python == "" {
		return nil, "peers skipped: no python3 found (Debian: apt-get install python3-aiohttp)", nil
	}
	run := peers
	if !hasAiohttp {
		run = peers[:1]
		note = fmt.Sprintf("peers: aiohttp skipped: %s cannot import aiohttp (Debian: apt-get install python3-aiohttp)", python)
	}
	dir, err := os.MkdirTemp("", "fetchstream-bench-peers-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	for _, p := range run {
		data, err := peerScripts.ReadFile("peers/" + p.script)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, p.script), data, 0o644)
		}
		if err != nil {
			return nil, "", err
		}
	}
	latencyN := e.cfg.LatencyURLs / batchSize * batchSize
	zeroN := e.cfg.OverheadURLs / batchSize * batchSize
	floor := time.Duration((latencyN+P-1)/P) * latencyDelay
	type series struct{ wall, floorRatio, rate, cpu []float64 }
	got := make([]series, len(run))
	err = e.rounds(func(round int) error {
		var phases []func() error
		for i, p := range run {
			script := filepath.Join(dir, p.script)
			phases = append(phases, func() error {
				r, err := runPeer(ctx, python, script, e.target.url(latencyDelay), latencyN)
				if err == nil {
					got[i].wall = append(got[i].wall, r.Seconds)
					got[i].floorRatio = append(got[i].floorRatio, floor.Seconds()/r.Seconds)
					e.logf("peers round %d: %s: %d URLs of %s in %.2f s", round+1, p.name, latencyN, latencyDelay, r.Seconds)
				}
				return err
			}, func() error {
				r, err := runPeer(ctx, python, script, e.target.url(0), zeroN)
				if err == nil {
					got[i].rate = append(got[i].rate, float64(zeroN)/r.Seconds)
					got[i].cpu = append(got[i].cpu, r.CPUSeconds*1e6/float64(zeroN))
					e.logf("peers round %d: %s: %.0f zero-delay URLs/s", round+1, p.name, float64(zeroN)/r.Seconds)
				}
				return err
			})
		}
		return rotate(round, phases...)
	})
	if err != nil {
		return nil, "", err
	}
	for i, p := range run {
		figures = append(figures,
			figure("peers", fmt.Sprintf("%s: wall time, %d URLs of %s", p.name, latencyN, latencyDelay), "s", "", got[i].wall),
			figure("peers", fmt.Sprintf("%s: ratio to the ceil(N/P)*D floor (%s)", p.name, floor), "x", "", got[i].floorRatio),
			figure("peers", p.name+": zero-delay URLs/s, bodies read", "URLs/s", "", got[i].rate),
			figure("peers", p.name+": process CPU per URL, zero-delay", "µs", "", got[i].cpu))
	}
	return figures, note, nil
}

// peerResult is what a peer script prints.
type peerResult struct {
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	OK         int     `json:"ok"`
}

// runPeer runs one script on n GETs of url at P, and fails unless every
// GET read its body.
func runPeer(ctx context.Context, python, script, url string, n int) (*peerResult, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, script, url, strconv.Itoa(n), strconv.Itoa(P))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(script), err, stderr.Bytes())
	}
	var r peerResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("%s printed %q: %w", filepath.Base(script), out, err)
	}
	if r.OK != n || r.Seconds <= 0 {
		return nil, fmt.Errorf("%s: %d of %d GETs read their body", filepath.Base(script), r.OK, n)
	}
	return &r, nil
}

// findPython is the interpreter to run the peers with: given, or the
// first python3 that imports aiohttp among the one in PATH and Debian's
// /usr/bin/python3, or else the first python3 found; "" if none.
func findPython(ctx context.Context, given string) (python string, hasAiohttp bool) {
	candidates := []string{given}
	if given == "" {
		inPath, _ := exec.LookPath("python3")
		candidates = []string{inPath, "/usr/bin/python3"}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		err := exec.CommandContext(ctx, c, "-c", "import aiohttp").Run()
		if err == nil {
			return c, true
		}
		var exitErr *exec.ExitError
		if python == "" && errors.As(err, &exitErr) { // it runs, without aiohttp
			python = c
		}
	}
	return python, false
}
