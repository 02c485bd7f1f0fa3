package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"github.com/peterbourgon/ff/v3/ffcli"
)

type benchConfig struct {
	nats       natsFlags
	scenarios  string
	runs       int
	json       bool
	overheadN  int
	profileDir string
	serviceBin string
}

// benchFigure is one measured figure, with the target it is held to.
type benchFigure struct {
	Scenario string    `json:"scenario"`
	Metric   string    `json:"metric"`
	Values   []float64 `json:"values"` // one per run
	Min      float64   `json:"min"`
	Median   float64   `json:"median"`
	Max      float64   `json:"max"`
	Unit     string    `json:"unit"`
	Target   string    `json:"target,omitempty"`
}

func benchCommand(stdout, stderr io.Writer) *ffcli.Command {
	var cfg benchConfig
	fs := flag.NewFlagSet("fetchstream bench", flag.ContinueOnError)
	cfg.nats.register(fs, "; default: an embedded server")
	fs.StringVar(&cfg.scenarios, "scenarios", "latency,overhead,memory", "comma-separated: latency, overhead, memory, fairness, jetstream")
	fs.IntVar(&cfg.runs, "runs", 5, "runs of the latency, overhead and jetstream scenarios (min and median are reported)")
	fs.BoolVar(&cfg.json, "json", false, "print the figures as JSON instead of a table")
	fs.IntVar(&cfg.overheadN, "overhead-urls", 100000, "URLs in each run of the overhead scenario (sent in 5 rounds; in each, the two bare clients also make as many requests)")
	fs.StringVar(&cfg.serviceBin, "service-binary", "", "run the service from this fetchstream binary instead of this one (to compare two builds under one bench)")
	fs.StringVar(&cfg.profileDir, "profile-dir", "", "write CPU profiles of each service run, and of the bench process itself, into this directory")
	return &ffcli.Command{
		Name:       "bench",
		ShortUsage: "fetchstream bench [--scenarios latency,overhead,memory,fairness,jetstream] [--runs 5] [--json]",
		ShortHelp:  "measure throughput, latency, memory, fairness and the cost of JetStream mode against a local target",
		LongHelp: "Start (or join) NATS, a local HTTP target, and `fetchstream run` as a child process,\n" +
			"then run the scenarios and print URLs/s, ratios to the limits, batch latency and\n" +
			"peak RSS of the service process:\n" +
			"  latency   --concurrency 64, 100 batches of 20 URLs of 100 ms; the limit is P/D = 640 URLs/s\n" +
			"  overhead  --concurrency 64, zero-delay URLs with bodies, against a bare Go client (64 workers) in\n" +
			"            a process of its own, as the service is (and, for reference, one inside this process,\n" +
			"            which holds the target), taking turns in 5 rounds; also CPU per URL of each process\n" +
			"  memory    peak RSS at 64 in flight, and at 10,000 in flight (10, 40 and 100 batches of 1,000 held URLs),\n" +
			"            with and without a soft memory limit, and of a plain net/http client making the same requests\n" +
			"  fairness  5,000 URLs of 200 ms at 64, alone, then with a 3-URL batch sent 0.5 s in\n" +
			"            (also with the big one split over 50 messages and the small one by request-reply)\n" +
			"  jetstream zero-delay URLs at 64, as 20,000 batches of 1 and as 2,000 batches of 20, through a\n" +
			"            JetStream service (a stream of its own) and a core one in turn: what durability costs",
		FlagSet: fs,
		Exec: func(ctx context.Context, _ []string) error {
			if spec, ok := os.LookupEnv(bareChildEnv); ok {
				return runBareChild(ctx, spec, os.Stdin, stdout)
			}
			return runBench(ctx, &cfg, stdout, stderr)
		},
	}
}

type benchEnv struct {
	natsURL string
	nc      *nats.Conn
	runID   string // unique to this invocation: names what it leaves on the server
	target  *benchTarget
	log     io.Writer
	seq     int
	// profileDir, when set, gets a CPU profile of each service run.
	profileDir string
	// serviceBinary runs the service; "" for this executable.
	serviceBinary string
}

func runBench(ctx context.Context, cfg *benchConfig, stdout, stderr io.Writer) error {
	if cfg.runs < 1 {
		return fmt.Errorf("--runs must be at least 1")
	}
	env := &benchEnv{natsURL: cfg.nats.url, log: stderr, profileDir: cfg.profileDir, serviceBinary: cfg.serviceBin,
		runID: nuid.Next()}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return fmt.Errorf("--profile-dir: %w", err)
		}
		stop, err := startCPUProfile(filepath.Join(cfg.profileDir, "bench.pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	if env.natsURL == "" {
		url, stop, err := startThrowawayNATS("bench")
		if err != nil {
			return err
		}
		defer stop()
		env.natsURL = url
	}
	nc, err := nats.Connect(env.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	env.nc = nc
	if env.target, err = startBenchTarget(ctx); err != nil {
		return err
	}
	var figures []benchFigure
	for name := range strings.SplitSeq(cfg.scenarios, ",") {
		var got []benchFigure
		var err error
		switch strings.TrimSpace(name) {
		case "latency":
			got, err = env.latencyScenario(ctx, cfg.runs)
		case "overhead":
			got, err = env.overheadScenario(ctx, cfg.runs, cfg.overheadN)
		case "memory":
			got, err = env.memoryScenario(ctx)
		case "fairness":
			got, err = env.fairnessScenario(ctx)
		case "jetstream":
			got, err = env.jetStreamScenario(ctx, cfg.runs)
		default:
			return fmt.Errorf("unknown scenario %q", name)
		}
		if err != nil {
			return fmt.Errorf("%s scenario: %w", name, err)
		}
		figures = append(figures, got...)
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"cpus": cpuCount(), "go": goVersion(), "figures": figures})
	}
	fmt.Fprintf(stdout, "%-9s %-60s %10s %10s %10s  %-7s %s\n", "SCENARIO", "METRIC", "MIN", "MEDIAN", "MAX", "UNIT", "TARGET")
	for _, f := range figures {
		fmt.Fprintf(stdout, "%-9s %-60s %10s %10s %10s  %-7s %s\n", f.Scenario, f.Metric,
			formatFigure(f.Min), formatFigure(f.Median), formatFigure(f.Max), f.Unit, f.Target)
	}
	return nil
}

// child starts a service on fresh subjects, so runs cannot see each
// other's messages.
func (e *benchEnv) child(ctx context.Context, args ...string) (*benchChild, subjectFlags, error) {
	e.seq++
	subjects := subjectFlags{
		in:      fmt.Sprintf("bench.%d.urls", e.seq),
		out:     fmt.Sprintf("bench.%d.results", e.seq),
		batches: fmt.Sprintf("bench.%d.batches", e.seq),
	}
	base := []string{"--nats-url", e.natsURL, "--allow-net", "127.0.0.0/8",
		"--in", subjects.in, "--out", subjects.out, "--batches-subject", subjects.batches}
	if e.profileDir != "" {
		base = append(base, "--cpu-profile", filepath.Join(e.profileDir, fmt.Sprintf("run-%d.pprof", e.seq)))
	}
	c, err := startBenchChild(ctx, e.serviceBinary, append(base, args...)...)
	return c, subjects, err
}

func figure(scenario, metric, unit, target string, values []float64) benchFigure {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return benchFigure{Scenario: scenario, Metric: metric, Values: values, Unit: unit, Target: target,
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

func (e *benchEnv) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
