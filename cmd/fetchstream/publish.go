package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/wire"
)

type publishConfig struct {
	nats      natsFlags
	subjects  subjectFlags
	file      string
	id        string
	timeoutMS int64
	maxBatch  int
	wait      bool
	json      bool
}

func publishCommand(stdout, stderr io.Writer) *ffcli.Command {
	var cfg publishConfig
	fs := flag.NewFlagSet("fetchstream publish", flag.ContinueOnError)
	cfg.nats.register(fs, "; default nats://127.0.0.1:4222")
	cfg.subjects.register(fs)
	fs.StringVar(&cfg.file, "f", "", "read URLs from this file, one per line ('-' for standard input)")
	fs.StringVar(&cfg.id, "id", "", "batch id (default: a new unique id); split batches get -1, -2, ...")
	fs.Int64Var(&cfg.timeoutMS, "timeout-ms", 0, "per-request timeout for this batch in ms (0: the service's default)")
	fs.IntVar(&cfg.maxBatch, "max-batch", 10000, "split the URLs into batches of at most this many (and of at most the server's max payload)")
	fs.BoolVar(&cfg.wait, "wait", false, "follow the results, print them in order and exit 2 if any URL failed")
	fs.BoolVar(&cfg.json, "json", false, "with --wait, print each result as a JSON line instead of a table")
	return &ffcli.Command{
		Name:       "publish",
		ShortUsage: "fetchstream publish [flags] [URL ...]",
		ShortHelp:  "publish a batch of URLs; with --wait, print its results in order",
		LongHelp: "Publish URLs (arguments, or -f FILE, or -f - for standard input) as one batch, or as\n" +
			"several when there are more than --max-batch. With --wait, print each result as it\n" +
			"arrives, in batch order, then a summary; lists of 100 URLs or more get a progress bar\n" +
			"on stderr when it is a terminal. Exit status with --wait: 0 when every URL was fetched\n" +
			"with a status below 400, 2 when some failed or a batch was rejected, 1 on any other error.",
		FlagSet: fs,
		Options: parseOptions(),
		Exec: func(ctx context.Context, args []string) error {
			return runPublish(ctx, &cfg, args, stdout, stderr)
		},
	}
}

func runPublish(ctx context.Context, cfg *publishConfig, args []string, stdout, stderr io.Writer) error {
	if cfg.maxBatch < 1 {
		return fmt.Errorf("--max-batch must be at least 1, got %d", cfg.maxBatch)
	}
	urls, err := collectURLs(args, cfg.file)
	if err != nil {
		return err
	}
	nc, err := cfg.nats.connect(nats.DefaultURL, "fetchstream publish")
	if err != nil {
		return fmt.Errorf("%w (is `fetchstream run` running?)", err)
	}
	defer nc.Close()
	batches := splitBatches(urls, cfg.maxBatch, nc.MaxPayload(), cfg.id, cfg.timeoutMS)
	var follow *follower
	if cfg.wait {
		if follow, err = newFollower(nc, cfg.subjects, batches); err != nil {
			return err
		}
	}
	send, err := newBatchSender(ctx, nc, cfg.subjects.in)
	if err != nil {
		return err
	}
	for _, b := range batches {
		data, _ := json.Marshal(b)
		if int64(len(data)) > nc.MaxPayload() {
			return fmt.Errorf("batch %s is %d bytes, over the server's max payload of %d: a URL is too long", b.ID, len(data), nc.MaxPayload())
		}
		if err := send(b.ID, data); err != nil {
			return fmt.Errorf("publish batch %s: %w", b.ID, err)
		}
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	if follow == nil {
		for _, b := range batches {
			fmt.Fprintf(stdout, "published batch %s (%d URLs) on %s\n", b.ID, len(b.URLs), cfg.subjects.in)
		}
		return nil
	}
	return follow.print(ctx, stdout, cfg.json, newProgress(stderr, len(urls)))
}

// newBatchSender returns how to send a batch to subject: when a stream
// captures it (the service runs with --jetstream), through JetStream, with
// the batch id as Nats-Msg-Id, waiting for the stream's ack, so a batch is
// known to be stored and a repeated publish is not stored twice; else as
// a core NATS publish.
func newBatchSender(ctx context.Context, nc *nats.Conn, subject string) (func(id string, data []byte) error, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	lookup, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := connectors.StreamOf(lookup, js, subject)
	if err != nil || stream == "" {
		return func(_ string, data []byte) error { return nc.Publish(subject, data) }, nil
	}
	return func(id string, data []byte) error {
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{nats.MsgIdHdr: {id}}}
		publishCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := js.PublishMsg(publishCtx, msg)
		return err
	}, nil
}

// progressThreshold is the list length from which publish --wait shows a
// progress bar (on stderr, and only when stderr is a terminal).
const progressThreshold = 100

// newProgress returns a progress bar on w for total URLs, or nil when the
// list is short or w is not a terminal.
func newProgress(w io.Writer, total int) *progressbar.ProgressBar {
	if total < progressThreshold || !isTerminal(w) {
		return nil
	}
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("results"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("URLs"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}

// collectURLs takes the URLs from args and from file ("-" is stdin).
func collectURLs(args []string, file string) ([]string, error) {
	urls := append([]string(nil), args...)
	if file != "" {
		var r io.Reader = os.Stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		}
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			if line := strings.TrimSpace(scanner.Text()); line != "" {
				urls = append(urls, line)
			}
		}
		if err := scanner.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("no URLs: give them as arguments or with -f FILE")
	}
	return urls, nil
}

// splitBatches cuts urls into batches of at most size URLs and at most
// maxBytes of JSON each. When there is more than one, their ids are id-1,
// id-2, ... and they share the correlation id id, so the service serves
// them as one flow, in order.
func splitBatches(urls []string, size int, maxBytes int64, id string, timeoutMS int64) []wire.Batch {
	if id == "" {
		id = nuid.Next()
	}
	const overhead = 256 // the object around the URLs, with long ids
	var out []wire.Batch
	current := wire.Batch{ID: id, TimeoutMS: timeoutMS}
	bytes := int64(overhead)
	for _, u := range urls {
		cost := int64(len(u)) + 8 // quotes, comma, escapes of a typical URL
		if len(current.URLs) > 0 && (len(current.URLs) == size || bytes+cost > maxBytes) {
			out = append(out, current)
			current = wire.Batch{ID: id, TimeoutMS: timeoutMS}
			bytes = overhead
		}
		current.URLs = append(current.URLs, wire.Request{URL: u})
		bytes += cost
	}
	out = append(out, current)
	if len(out) > 1 {
		for i := range out {
			out[i].ID, out[i].CorrelationID = fmt.Sprintf("%s-%d", id, i+1), id
		}
	}
	return out
}

// follower collects the results and summaries of the batches it follows.
type follower struct {
	results   *nats.Subscription
	summaries *nats.Subscription
	pending   map[string]int // batch id → position in the publish order
	start     time.Time
}

func newFollower(nc *nats.Conn, subjects subjectFlags, batches []wire.Batch) (*follower, error) {
	f := &follower{pending: map[string]int{}, start: time.Now()}
	for i, b := range batches {
		f.pending[b.ID] = i
	}
	var err error
	if f.results, err = nc.SubscribeSync(subjects.out); err != nil {
		return nil, err
	}
	if f.summaries, err = nc.SubscribeSync(subjects.batches); err != nil {
		return nil, err
	}
	_ = f.results.SetPendingLimits(-1, -1)
	return f, nc.Flush()
}

// print writes results as they arrive until every batch has its summary.
// bar, if not nil, advances by one per result.
func (f *follower) print(ctx context.Context, w io.Writer, asJSON bool, bar *progressbar.ProgressBar) error {
	if !asJSON {
		fmt.Fprintf(w, rowFormat, "BATCH", "#", "STATUS", "ERROR", "MS", "URL")
	}
	var ok, failed, rejected int
	summaries := make(chan *nats.Msg, 64)
	go func() {
		for {
			m, err := f.summaries.NextMsgWithContext(ctx)
			if err != nil {
				close(summaries)
				return
			}
			summaries <- m
		}
	}()
	for len(f.pending) > 0 {
		m, err := f.results.NextMsg(100 * time.Millisecond)
		switch {
		case err == nil:
			var r wire.Result
			if json.Unmarshal(m.Data, &r) != nil {
				continue
			}
			if _, mine := f.pending[r.BatchID]; !mine {
				continue
			}
			if r.OK() {
				ok++
			} else {
				failed++
			}
			if bar != nil {
				_ = bar.Add(1)
			}
			if asJSON {
				fmt.Fprintln(w, string(m.Data))
				continue
			}
			fmt.Fprintf(w, rowFormat, r.BatchID, strconv.Itoa(r.Index), statusText(r.Status), r.Error, fmt.Sprintf("%.0f", r.ElapsedMS), r.URL)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, nats.ErrTimeout):
			return err
		}
		rejected += f.drainSummaries(summaries, w, asJSON)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if !asJSON {
		fmt.Fprintf(w, "%d ok, %d failed in %.2fs\n", ok, failed, time.Since(f.start).Seconds())
	}
	if failed > 0 || rejected > 0 {
		return errSomeFailed
	}
	return nil
}

// drainSummaries marks batches done and returns how many were rejected,
// each of which it reports.
func (f *follower) drainSummaries(summaries <-chan *nats.Msg, w io.Writer, asJSON bool) (rejected int) {
	for {
		select {
		case m, open := <-summaries:
			if !open {
				return rejected
			}
			var s wire.Summary
			if json.Unmarshal(m.Data, &s) != nil {
				continue
			}
			if _, mine := f.pending[s.BatchID]; !mine {
				continue
			}
			delete(f.pending, s.BatchID)
			if s.Error == "" {
				continue
			}
			rejected++
			if asJSON {
				fmt.Fprintln(w, string(m.Data))
			} else {
				fmt.Fprintf(w, "batch %s rejected: %s: %s\n", s.BatchID, s.Error, s.Message)
			}
		default:
			return rejected
		}
	}
}

// rowFormat lays out a result row; rows print as they arrive, so the
// columns have fixed widths rather than a table computed at the end.
const rowFormat = "%-24s %5s %6s %-18s %7s  %s\n"

func statusText(status int) string {
	if status == 0 {
		return "-"
	}
	return fmt.Sprint(status)
}
