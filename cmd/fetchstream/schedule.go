package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// scheduleCommand is `fetchstream schedule add|ls|rm`: recurring batches
// kept as NATS message schedules beside the input stream (see client.Schedule).
func scheduleCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("fetchstream schedule", flag.ContinueOnError)
	return &ffcli.Command{
		Name:       "schedule",
		ShortUsage: "fetchstream schedule add|ls|rm ...",
		ShortHelp:  "recurring batches that the NATS server publishes on time (--jetstream, nats-server 2.14+)",
		LongHelp: "A schedule is a batch kept with a Nats-Schedule header (ADR-51) in the stream\n" +
			"<input stream>_SCHEDULES, whose runs the input stream takes in: the NATS server publishes\n" +
			"it into the input as often as it says, across restarts of the service\n" +
			"and of every server, with no timer in fetchstream. It needs the service in JetStream mode\n" +
			"(`fetchstream run --jetstream`) and nats-server 2.14 or later.",
		FlagSet:     fs,
		Subcommands: []*ffcli.Command{scheduleAddCommand(stdout, stderr), scheduleListCommand(stdout), scheduleRemoveCommand(stdout)},
		Exec: func(context.Context, []string) error {
			return errors.New("schedule wants a subcommand: add, ls or rm (fetchstream help schedule)")
		},
	}
}

type scheduleAddConfig struct {
	publishConfig
	every time.Duration
	cron  string
}

func scheduleAddCommand(stdout, _ io.Writer) *ffcli.Command {
	var cfg scheduleAddConfig
	fs := flag.NewFlagSet("fetchstream schedule add", flag.ContinueOnError)
	cfg.nats.register(fs, "; default nats://127.0.0.1:4222")
	fs.StringVar(&cfg.subjects.in, "in", service.Defaults().Subjects.In, "the input subject the batch is published to: its stream takes in the runs")
	cfg.registerBatch(fs)
	fs.DurationVar(&cfg.every, "every", 0, fmt.Sprintf("publish the batch this often, at least %s", wire.MinScheduleInterval))
	fs.StringVar(&cfg.cron, "cron", "", `publish the batch when this cron expression says: six fields, seconds first ("0 */5 * * * *" is every five minutes, UTC), or @hourly, @daily, @weekly, @monthly, @yearly`)
	return &ffcli.Command{
		Name:       "add",
		ShortUsage: "fetchstream schedule add NAME (--every DURATION | --cron EXPR) [publish's batch flags] URL...",
		ShortHelp:  "add a recurring batch",
		LongHelp: "Add the schedule NAME (letters, digits, - and _): the batch of the URLs (and -f FILE), with\n" +
			"the batch flags of publish, published into --in every DURATION or as the cron expression says,\n" +
			"until `fetchstream schedule rm NAME`. Each run is a batch of its own, with the id\n" +
			"<stream>-<sequence>. A name in use is refused: rm it first.",
		FlagSet: fs,
		Options: settings.Options(fs, false),
		Exec: func(ctx context.Context, args []string) error {
			args, err := settings.ParseInterleaved(fs, args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return errors.New("schedule add wants a NAME, then URLs")
			}
			return runScheduleAdd(ctx, &cfg, args[0], args[1:], stdout)
		},
	}
}

// spec is the schedule spec --every or --cron gives.
func (cfg *scheduleAddConfig) spec() (string, error) {
	switch {
	case (cfg.every != 0) == (cfg.cron != ""):
		return "", errors.New("give one of --every DURATION and --cron EXPR")
	case cfg.every != 0:
		spec := wire.EverySpec(cfg.every)
		if err := wire.ValidScheduleSpec(spec); err != nil {
			return "", fmt.Errorf("--every %s: %w", cfg.every, err)
		}
		return spec, nil
	}
	if err := wire.ValidScheduleSpec(cfg.cron); err != nil {
		return "", fmt.Errorf("--cron: %w", err)
	}
	return cfg.cron, nil
}

func runScheduleAdd(ctx context.Context, cfg *scheduleAddConfig, name string, urls []string, stdout io.Writer) error {
	if err := wire.ValidScheduleName(name); err != nil {
		return err
	}
	spec, err := cfg.spec()
	if err != nil {
		return err
	}
	cfg.maxBatch = client.DefaultMaxBatch
	batch, opts, err := cfg.prepare(urls)
	if err != nil {
		return err
	}
	c, nc, err := scheduleClient(&cfg.nats, cfg.subjects.in, client.WithRequestOptions(opts))
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := c.Schedule(ctx, name, spec, batch); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added schedule %s: %s to %s, %s\n", name, countURLs(len(batch.URLs)), cfg.subjects.in, spec)
	return nil
}

func scheduleListCommand(stdout io.Writer) *ffcli.Command {
	var (
		natsCfg natsFlags
		in      string
	)
	fs := flag.NewFlagSet("fetchstream schedule ls", flag.ContinueOnError)
	natsCfg.register(fs, "; default nats://127.0.0.1:4222")
	fs.StringVar(&in, "in", service.Defaults().Subjects.In, "an input subject of the stream whose schedules are listed")
	return &ffcli.Command{
		Name:       "ls",
		ShortUsage: "fetchstream schedule ls",
		ShortHelp:  "list the schedules: name, spec, next run, the batch in brief",
		FlagSet:    fs,
		Options:    settings.Options(fs, false),
		Exec: func(ctx context.Context, _ []string) error {
			c, nc, err := scheduleClient(&natsCfg, in)
			if err != nil {
				return err
			}
			defer nc.Close()
			list, err := c.Schedules(ctx)
			if err != nil {
				return err
			}
			printSchedules(stdout, list)
			return nil
		},
	}
}

// printSchedules writes list as a table; "next" is shown for @every
// schedules, cron ones fire as their expression says.
func printSchedules(w io.Writer, list []client.ScheduleInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no schedules")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSPEC\tNEXT\tTARGET\tBATCH")
	for _, s := range list {
		next := "per cron"
		if !s.Next.IsZero() {
			next = s.Next.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Spec, next, s.Target, batchInBrief(s.Batch))
	}
	_ = tw.Flush()
}

// batchInBrief is "3 URLs: http://a/..., +2 more", its first URL cut to
// 60 bytes.
func batchInBrief(b wire.Batch) string {
	if len(b.URLs) == 0 {
		return "no URLs"
	}
	first := b.URLs[0].URL
	if len(first) > 60 {
		first = first[:57] + "..."
	}
	out := countURLs(len(b.URLs)) + ": " + first
	if len(b.URLs) > 1 {
		out += fmt.Sprintf(", +%d more", len(b.URLs)-1)
	}
	return strings.ToValidUTF8(out, "?")
}

func scheduleRemoveCommand(stdout io.Writer) *ffcli.Command {
	var (
		natsCfg natsFlags
		in      string
	)
	fs := flag.NewFlagSet("fetchstream schedule rm", flag.ContinueOnError)
	natsCfg.register(fs, "; default nats://127.0.0.1:4222")
	fs.StringVar(&in, "in", service.Defaults().Subjects.In, "an input subject of the stream that holds the schedule")
	return &ffcli.Command{
		Name:       "rm",
		ShortUsage: "fetchstream schedule rm NAME",
		ShortHelp:  "remove a schedule: the server publishes its batch no more",
		FlagSet:    fs,
		Options:    settings.Options(fs, false),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return errors.New("schedule rm wants one NAME")
			}
			c, nc, err := scheduleClient(&natsCfg, in)
			if err != nil {
				return err
			}
			defer nc.Close()
			if err := c.Unschedule(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed schedule %s\n", args[0])
			return nil
		},
	}
}

// scheduleClient connects and makes the client the schedule commands use.
func scheduleClient(n *natsFlags, in string, opts ...client.Option) (*client.Client, *nats.Conn, error) {
	nc, err := n.connect(nats.DefaultURL, "fetchstream schedule")
	if err != nil {
		return nil, nil, fmt.Errorf("%w (is `fetchstream run --jetstream` running?)", err)
	}
	c, err := client.New(nc, append([]client.Option{client.WithSubject(in)}, opts...)...)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return c, nc, nil
}
