// Package bench measures fetchstream as a user would run it, beside what
// a user would otherwise run, on one machine, against a local HTTP target.
//
// Run starts (or joins) a NATS server, starts the target in this process
// and, for each scenario, a `fetchstream run` child process: the service
// meets the same process boundaries and CPU competition as a deployment,
// and its CPU time and peak RSS are read on its own from /proc. Its
// yardstick is a Go client tuned as the service is (TunedTransport:
// http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64} for 64
// workers, each reading every body) in a child process of its own,
// `fetchstream bench client`, driven over its standard input (see
// ServeClient), on the same target in the same run; each scenario that
// runs it reports the service's figures as ratios to its. The plain
// http.Client{} with its defaults, which re-dials since it keeps 2 idle
// connections per host, is a labelled second line ("plain: ..."). Python
// peers (the seed's asyncio pattern, aiohttp + gather) run from scripts
// embedded in this package when python3 with aiohttp is installed.
//
// Each scenario runs Config.Rounds rounds; in a round the pipeline and its
// yardsticks take turns, in an order that rotates from round to round, so
// that all meet the same machine (a shared VM drifts by a fifth within
// minutes) and none always follows the same one. Every figure is reported
// with the min, median and max over the rounds, as a table or as JSON.
// Figures with a target name the target of an issue: against the tuned
// client those of issue 24, against the plain one those of issue 17. The
// bench reports, it never fails on a figure.
//
// Scenarios:
//
//	latency    2,000 URLs of 100 ms in batches of 20 at --concurrency 64: wall time
//	           against the ceil(N/P)·D floor and against the clients on the same URLs
//	overhead   zero-delay URLs, batches of 20, bodies embedded, at 64: URLs/s end to end
//	           and CPU per URL of the service against the tuned client's (and the plain one's)
//	memory     peak RSS at 10,000 in flight (10 batches of 1,000 held URLs), with and
//	           without a soft memory limit, against the clients holding the same requests
//	peers      the latency and zero-delay loads through the seed's pattern and aiohttp
//	fairness   a small batch beside a big one (one round)
//	jetstream  zero-delay URLs through a JetStream service and a core one in turn
//
// Run needs Linux (/proc) and a fetchstream executable: the running one, or
// Config.Executable.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/throwaway"
)

// ErrConfig is wrapped by the errors of an invalid Config.
var ErrConfig = errors.New("bench: invalid configuration")

// Scenarios names every scenario, in the order Run runs them when asked
// for all; DefaultScenarios are those Defaults selects.
var (
	Scenarios        = []string{"latency", "overhead", "memory", "peers", "fairness", "jetstream"}
	DefaultScenarios = []string{"latency", "overhead", "memory", "peers"}
)

// Config is what Run measures and how. The zero value of a field is not
// its default: start from Defaults.
type Config struct {
	// NATSURL is the server to join; "" starts an embedded one on a free
	// loopback port, with JetStream in a temporary directory.
	NATSURL string
	// Scenarios run in the order given; each name is one of Scenarios.
	Scenarios []string
	// Rounds of each scenario (fairness runs once): at least 1.
	Rounds int
	// LatencyURLs is the size of the latency load (batches of 20 URLs of
	// 100 ms), used by the latency and peers scenarios: at least 20.
	LatencyURLs int
	// OverheadURLs are the zero-delay URLs of each round of the overhead
	// and peers scenarios (batches of 20): at least 20.
	OverheadURLs int
	// JSON prints the report as JSON instead of a table.
	JSON bool
	// ProfileDir, when set, gets a CPU profile of each service run and of
	// the bench process itself.
	ProfileDir string
	// Executable is the fetchstream binary whose `bench client` is the
	// yardstick clients, and whose `run` is the service unless ServiceBinary
	// is set; "" is the running executable.
	Executable string
	// ServiceBinary runs the service instead (to compare two builds under
	// one bench); "" is Executable.
	ServiceBinary string
	// Python is the interpreter of the peers scenario; "" looks up
	// python3 in PATH. Without it, or without aiohttp, peers is skipped
	// with a note.
	Python string
}

// Defaults is the full bench: the default scenarios, 5 rounds.
func Defaults() Config {
	return Config{Scenarios: slices.Clone(DefaultScenarios), Rounds: 5, LatencyURLs: 2000, OverheadURLs: 20000}
}

// validate checks cfg before anything starts; errors name the field.
func (cfg *Config) validate() error {
	for _, name := range cfg.Scenarios {
		if !slices.Contains(Scenarios, name) {
			return fmt.Errorf("%w: Scenarios: unknown scenario %q (known: %s)", ErrConfig, name, strings.Join(Scenarios, ", "))
		}
	}
	switch {
	case len(cfg.Scenarios) == 0:
		return fmt.Errorf("%w: Scenarios: none given", ErrConfig)
	case cfg.Rounds < 1:
		return fmt.Errorf("%w: Rounds must be at least 1", ErrConfig)
	case cfg.LatencyURLs < batchSize:
		return fmt.Errorf("%w: LatencyURLs must be at least %d", ErrConfig, batchSize)
	case cfg.OverheadURLs < batchSize:
		return fmt.Errorf("%w: OverheadURLs must be at least %d", ErrConfig, batchSize)
	}
	return nil
}

// Figure is one measured figure, with the target it is held to.
type Figure struct {
	Scenario string    `json:"scenario"`
	Metric   string    `json:"metric"`
	Values   []float64 `json:"values"` // one per round
	Min      float64   `json:"min"`
	Median   float64   `json:"median"`
	Max      float64   `json:"max"`
	Unit     string    `json:"unit"`
	Target   string    `json:"target,omitempty"`
}

// Report is what Run prints.
type Report struct {
	CPUs    int      `json:"cpus"`
	Go      string   `json:"go"`
	Rounds  int      `json:"rounds"`
	Figures []Figure `json:"figures"`
	Notes   []string `json:"notes,omitempty"` // scenarios skipped, and why
}

// Run validates cfg, measures its scenarios, and prints the report on
// stdout (progress goes to stderr). It returns when done, on the first
// error, or when ctx is canceled; every process it started has exited by
// then.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	report, err := Measure(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON { // one line, as every --json output is JSON lines
		return json.NewEncoder(stdout).Encode(report)
	}
	return report.WriteTable(stdout)
}

// Measure is Run without the printing: it returns the report.
func Measure(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, natsURL: cfg.NATSURL, log: log, runID: nuid.Next()}
	var err error
	if e.executable, err = binaryOrSelf(cfg.Executable); err != nil {
		return nil, err
	}
	if e.serviceBinary, err = binaryOrSelf(cfg.ServiceBinary); err != nil {
		return nil, err
	}
	if cfg.ServiceBinary == "" {
		e.serviceBinary = e.executable
	}
	if cfg.ProfileDir != "" {
		stop, err := profileSelf(cfg.ProfileDir)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	if e.natsURL == "" {
		url, stop, err := throwaway.NATS("bench")
		if err != nil {
			return nil, err
		}
		defer stop()
		e.natsURL = url
	}
	if e.nc, err = nats.Connect(e.natsURL, nats.Name("fetchstream bench")); err != nil {
		return nil, err
	}
	defer e.nc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the target
	if e.target, err = startTarget(ctx); err != nil {
		return nil, err
	}
	report := &Report{CPUs: runtime.NumCPU(), Go: runtime.Version(), Rounds: cfg.Rounds}
	for _, name := range cfg.Scenarios {
		got, note, err := e.scenario(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("%s scenario: %w", name, err)
		}
		if note != "" {
			e.logf("%s", note)
			report.Notes = append(report.Notes, note)
		}
		report.Figures = append(report.Figures, got...)
	}
	return report, nil
}

func (e *env) scenario(ctx context.Context, name string) (figures []Figure, note string, err error) {
	switch name {
	case "latency":
		figures, err = e.latencyScenario(ctx)
	case "overhead":
		figures, err = e.overheadScenario(ctx)
	case "memory":
		figures, err = e.memoryScenario(ctx)
	case "peers":
		return e.peersScenario(ctx)
	case "fairness":
		figures, err = e.fairnessScenario(ctx)
	case "jetstream":
		figures, err = e.jetStreamScenario(ctx)
	}
	return figures, "", err
}

// WriteTable prints the figures one a line, then the notes.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%-9s %-66s %10s %10s %10s  %-7s %s\n", "SCENARIO", "METRIC", "MIN", "MEDIAN", "MAX", "UNIT", "TARGET")
	for _, f := range r.Figures {
		fmt.Fprintf(w, "%-9s %-66s %10s %10s %10s  %-7s %s\n", f.Scenario, f.Metric,
			formatFigure(f.Min), formatFigure(f.Median), formatFigure(f.Max), f.Unit, f.Target)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	_, err := fmt.Fprintf(w, "(%d CPUs, %s, %d rounds)\n", r.CPUs, r.Go, r.Rounds)
	return err
}

func figure(scenario, metric, unit, target string, values []float64) Figure {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return Figure{Scenario: scenario, Metric: metric, Values: values, Unit: unit, Target: target,
		Min: sorted[0], Median: sorted[len(sorted)/2], Max: sorted[len(sorted)-1]}
}

func formatFigure(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
