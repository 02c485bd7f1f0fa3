package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
)

func watchCommand(stdout, stderr io.Writer) *ffcli.Command {
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
		LongHelp: "Print every result and batch summary as it passes, until interrupted: as rows and\n" +
			"sentences, or with --json each message as it came, one JSON object a line. Only those go\n" +
			"to stdout: what watch says itself (what it watches, messages it missed, a lost\n" +
			"connection) goes to stderr, so that `watch --json | jq .` reads JSON alone.",
		FlagSet: fs,
		Options: settings.Options(fs, false),
		Exec: func(ctx context.Context, _ []string) error {
			nc, err := natsCfg.connect(nats.DefaultURL, "fetchstream watch",
				nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
					if err != nil {
						fmt.Fprintf(stderr, "fetchstream watch: lost the connection to NATS (%v); reconnecting, and what passes meanwhile is not seen\n", err)
					}
				}),
				nats.ReconnectHandler(func(nc *nats.Conn) {
					fmt.Fprintf(stderr, "fetchstream watch: reconnected to %s\n", nc.ConnectedUrlRedacted())
				}))
			if err != nil {
				return err
			}
			defer nc.Close()
			msgs := make(chan *nats.Msg, watchBuffer)
			var subs []*nats.Subscription
			for _, subject := range []string{subjects.out, subjects.batches} {
				sub, err := nc.ChanSubscribe(subject, msgs)
				if err != nil {
					return err
				}
				defer sub.Unsubscribe()
				subs = append(subs, sub)
			}
			fmt.Fprintf(stderr, "watching %s and %s on %s (Ctrl-C to stop)\n", subjects.out, subjects.batches, nc.ConnectedUrlRedacted())
			missed := missedCounter{subs: subs}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					missed.report(stderr)
					return nil
				case m := <-msgs:
					printMessage(stdout, m.Data, m.Subject == subjects.batches, asJSON)
				case <-tick.C:
					missed.report(stderr)
				}
			}
		},
	}
}

// watchBuffer is how many messages watch holds while the terminal is
// slower than they come; past it NATS drops them for watch, and watch
// says how many it missed.
const watchBuffer = 1024

// missedCounter tells (on stderr), once a second, of the messages NATS
// dropped for watch's subscriptions since it last told.
type missedCounter struct {
	subs []*nats.Subscription
	told int
}

func (c *missedCounter) report(w io.Writer) {
	dropped := 0
	for _, sub := range c.subs {
		if n, err := sub.Dropped(); err == nil {
			dropped += n
		}
	}
	if dropped > c.told {
		fmt.Fprintf(w, "watch missed %d messages: they came faster than it could print them (buffer of %d); use --json, or a file, to keep up\n",
			dropped-c.told, watchBuffer)
		c.told = dropped
	}
}
