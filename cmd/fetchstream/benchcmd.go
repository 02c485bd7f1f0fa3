package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/bench"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

// benchCommand is `fetchstream bench`: flags to bench.Config, then
// bench.Run. Its subcommand `client` is the yardstick client the bench
// starts as a child process (bench.ServeClient).
func benchCommand(stdout, stderr io.Writer) *ffcli.Command {
	cfg := bench.Defaults()
	fs := flag.NewFlagSet("fetchstream bench", flag.ContinueOnError)
	fs.StringVar(&cfg.NATSURL, "nats-url", os.Getenv("NATS_URL"), "NATS server URL to join, without auth (env NATS_URL); default: an embedded server")
	scenarios := fs.String("scenarios", strings.Join(cfg.Scenarios, ","), "comma-separated, from: "+strings.Join(bench.Scenarios, ", "))
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds of each scenario (fairness runs once); min, median and max are reported")
	fs.IntVar(&cfg.LatencyURLs, "latency-urls", cfg.LatencyURLs, "URLs of 100 ms in the latency load (latency and peers scenarios)")
	fs.IntVar(&cfg.OverheadURLs, "overhead-urls", cfg.OverheadURLs, "zero-delay URLs in each round of the overhead and peers scenarios")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&cfg.ServiceBinary, "service-binary", "", "run the service from this fetchstream binary instead of this one (to compare two builds under one bench)")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", "", "write CPU profiles of each service run, and of the bench process itself, into this directory")
	fs.StringVar(&cfg.Python, "python", "", "python3 interpreter of the peers scenario (default: python3 in PATH, or /usr/bin/python3, whichever imports aiohttp)")
	return &ffcli.Command{
		Name:       "bench",
		ShortUsage: "fetchstream bench [--scenarios latency,overhead,memory,peers] [--rounds 5] [--json]",
		ShortHelp:  "measure the service against a tuned Go client and Python peers on a local target",
		LongHelp: "Start (or join) NATS, a local HTTP target, `fetchstream run` as a child process and,\n" +
			"as yardsticks, Go clients as child processes (`fetchstream bench client`, below): the tuned\n" +
			"client (an idle pool of 64, as the service has; the service's figures are ratios to its) and\n" +
			"http.Client{} with its defaults (a second line, \"plain\"); in each round they take turns. Scenarios:\n" +
			"  latency    2,000 URLs of 100 ms, batches of 20, at 64: against the ceil(N/P)*D floor and the clients\n" +
			"  overhead   zero-delay URLs, batches of 20, bodies embedded, at 64: URLs/s end to end and CPU per URL\n" +
			"             against the tuned client's (64 workers), and the plain client's\n" +
			"  memory     peak RSS at 10,000 in flight, with and without --memory-limit, against the clients\n" +
			"             holding the same requests\n" +
			"  peers      the latency and zero-delay loads through the seed's Python pattern and aiohttp\n" +
			"             (needs python3 with aiohttp, e.g. Debian's python3-aiohttp; skipped with a note otherwise)\n" +
			"  fairness   a 3-URL batch beside one of 5,000 URLs of 200 ms (one round)\n" +
			"  jetstream  zero-delay URLs through a JetStream service and a core one in turn",
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{benchClientCommand(stdout)},
		Exec: func(ctx context.Context, _ []string) error {
			cfg.Scenarios = nil
			for name := range strings.SplitSeq(*scenarios, ",") {
				if name = strings.TrimSpace(name); name != "" {
					cfg.Scenarios = append(cfg.Scenarios, name)
				}
			}
			return benchInFlagTerms(bench.Run(ctx, cfg, stdout, stderr))
		},
	}
}

// benchClientCommand is `fetchstream bench client`, the child process the
// bench drives over its standard input; it is a command of its own, so
// that the bench runs from the shipped binary alone and nothing in the
// environment changes what a command does.
func benchClientCommand(stdout io.Writer) *ffcli.Command {
	var cfg bench.ClientConfig
	fs := flag.NewFlagSet("fetchstream bench client", flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "url", "", "URL to GET")
	fs.IntVar(&cfg.Workers, "workers", 64, "goroutines making GETs")
	fs.StringVar(&cfg.Transport, "transport", bench.TunedTransport, "tuned (http.Transport{MaxIdleConnsPerHost: workers, MaxIdleConns: workers}, other fields at their defaults) or plain (http.Client{} with its defaults)")
	return &ffcli.Command{
		Name:       "client",
		ShortUsage: "fetchstream bench client --url URL [--workers 64] [--transport tuned]",
		ShortHelp:  "the bench's yardstick client, a child process driven over stdin (not for direct use)",
		LongHelp: "A Go client the bench starts in a process of its own. It reads commands on stdin,\n" +
			"one a line, and answers each on stdout: `run N` makes N GETs of --url and answers\n" +
			"`ok NANOSECONDS`; `rss` answers its peak RSS in bytes; a failure answers `error MESSAGE`.\n" +
			"It exits when stdin is closed.",
		FlagSet: fs,
		Exec: func(ctx context.Context, _ []string) error {
			return benchInFlagTerms(bench.ServeClient(ctx, cfg, os.Stdin, stdout))
		},
	}
}

// benchFlagTerms rewrites the bench's Config field names into its flags.
var benchFlagTerms = settings.NewRenamer(map[string]string{
	"Scenarios": "--scenarios", "Rounds": "--rounds", "LatencyURLs": "--latency-urls",
	"OverheadURLs": "--overhead-urls", "ProfileDir": "--profile-dir",
	"URL ": "--url ", "Workers": "--workers", "Transport": "--transport"})

// benchInFlagTerms is err with the fields it names read as flags (nil
// stays nil); errors.Is and errors.As still see err.
func benchInFlagTerms(err error) error { return benchFlagTerms.Rename(err) }
