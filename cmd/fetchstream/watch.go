package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/wire"
)

func watchCommand(stdout, _ io.Writer) *ffcli.Command {
	var (
		natsCfg  natsFlags
		subjects subjectFlags
		asJSON   bool
	)
	fs := flag.NewFlagSet("fetchstream watch", flag.ContinueOnError)
	natsCfg.register(fs, "; default nats://127.0.0.1:4222")
	subjects.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print each message as it came, one JSON object a line")
	return &ffcli.Command{
		Name:       "watch",
		ShortUsage: "fetchstream watch [--json]",
		ShortHelp:  "print every result and batch summary as it passes, until interrupted",
		FlagSet:    fs,
		Options:    parseOptions(),
		Exec: func(ctx context.Context, _ []string) error {
			nc, err := natsCfg.connect(nats.DefaultURL, "fetchstream watch")
			if err != nil {
				return err
			}
			defer nc.Close()
			msgs := make(chan *nats.Msg, 1024)
			for _, subject := range []string{subjects.out, subjects.batches} {
				sub, err := nc.ChanSubscribe(subject, msgs)
				if err != nil {
					return err
				}
				defer sub.Unsubscribe()
			}
			fmt.Fprintf(stdout, "watching %s and %s on %s (Ctrl-C to stop)\n", subjects.out, subjects.batches, nc.ConnectedUrlRedacted())
			for {
				select {
				case <-ctx.Done():
					return nil
				case m := <-msgs:
					printWatched(stdout, m, m.Subject == subjects.batches, asJSON)
				}
			}
		},
	}
}

func printWatched(w io.Writer, m *nats.Msg, summary, asJSON bool) {
	if asJSON {
		fmt.Fprintln(w, string(m.Data))
		return
	}
	if summary {
		var s wire.Summary
		if json.Unmarshal(m.Data, &s) != nil {
			fmt.Fprintf(w, "? %s\n", m.Data)
			return
		}
		if s.Error != "" {
			fmt.Fprintf(w, "batch %s rejected: %s: %s\n", s.BatchID, s.Error, s.Message)
			return
		}
		fmt.Fprintf(w, "batch %s done: %d URLs, %d ok, %d failed %v in %.0f ms\n", s.BatchID, s.Count, s.OK, s.Failed, s.Errors, s.ElapsedMS)
		return
	}
	var r wire.Result
	if json.Unmarshal(m.Data, &r) != nil {
		fmt.Fprintf(w, "? %s\n", m.Data)
		return
	}
	fmt.Fprintf(w, rowFormat, r.BatchID, fmt.Sprintf("%d/%d", r.Index, r.Count), statusText(r.Status), r.Error, fmt.Sprintf("%.0f", r.ElapsedMS), r.URL)
}
