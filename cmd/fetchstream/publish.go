package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/settings"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

type publishConfig struct {
	nats          natsFlags
	subjects      subjectFlags
	file          string
	id            string
	timeoutMS     int64
	maxBatch      int
	priority      optionalInt
	concurrency   int
	correlationID string
	perHostRate   float64
	robots        bool
	wait          bool
	waitTimeout   time.Duration
	json          bool

	// The request flags, curl's: every URL gets them.
	method          string
	headers         settings.HeaderList
	data, dataFile  string
	credential      string
	responseHeaders settings.NameList
	noFollow        bool
	noConditional   bool
	poll            string
}

// noServiceWarning is how long publish --wait waits for a sign of the
// service (a result or a summary) before it asks whether one is there and
// warns on stderr when none is; at most half the wait timeout.
const noServiceWarning = 3 * time.Second

func publishCommand(stdout, stderr io.Writer) *ffcli.Command {
	var cfg publishConfig
	fs := flag.NewFlagSet("fetchstream publish", flag.ContinueOnError)
	cfg.nats.register(fs, "; default nats://127.0.0.1:4222")
	fs.StringVar(&cfg.subjects.in, "in", service.Defaults().Subjects.In, "subject batches are published on (results come back to this command's own inbox)")
	fs.StringVar(&cfg.subjects.batches, "batches-subject", service.Defaults().Subjects.Batches, "with --wait, the service's summaries subject, read until the first reply for a refusal of this command's inbox (the service's --reply-subjects)")
	cfg.registerBatch(fs)
	fs.StringVar(&cfg.id, "id", "", "batch id, at most 256 bytes (default: a new unique id); split batches get -1, -2, ...")
	fs.IntVar(&cfg.maxBatch, "max-batch", 10000, "split the URLs into batches of at most this many (and of at most the server's max payload)")
	fs.BoolVar(&cfg.wait, "wait", false, "follow the results, print them in order and exit 2 if any URL failed")
	fs.DurationVar(&cfg.waitTimeout, "wait-timeout", client.DefaultWaitTimeout, "with --wait, give up (exit 1) when the batches have not all ended after this long (0 means never)")
	fs.BoolVar(&cfg.json, "json", false, "with --wait, print each result as a JSON line instead of a table")
	return &ffcli.Command{
		Name:       "publish",
		ShortUsage: "fetchstream publish [flags] [URL ...] [flags]",
		ShortHelp:  "publish a batch of URLs; with --wait, print its results in order",
		LongHelp: "Publish URLs (arguments, or -f FILE, or -f - for standard input; a file holds one\n" +
			"URL a line, # lines being comments, or a JSON array of URL strings, or a JSON batch\n" +
			"object with its settings and request objects) as one batch, or as several when there are\n" +
			"more than --max-batch. Flags may come before or after the URLs; after -- every argument\n" +
			"is a URL. Each URL is sent as -X, -H, --data (or --data-file) and --credential say, as\n" +
			"curl does; --response-header names the response headers results return, and\n" +
			"--no-follow returns a 3xx as it is. With --wait, print each result as it arrives, in\n" +
			"the list's order with its position in the list (#), a failure's message on the line\n" +
			"under its row, then a summary; lists of 100 URLs or more get a progress bar on stderr\n" +
			"when it is a terminal. With --wait, a batch that nothing will take (nothing reads --in,\n" +
			"no stream stores it) is an error at once, a batch a stream holds with no service is\n" +
			"warned of once and waited for, and while nothing comes stderr says what the wait is on;\n" +
			"without --wait, a warning goes to stderr when no service answers for --in. Exit status\n" +
			"with --wait: 0 when every URL was fetched with a status below 400, 2 when some failed or\n" +
			"a batch was rejected, 1 on any other error (a bad batch id, a duplicate id in\n" +
			"JetStream, no service, --wait-timeout, an interrupted wait).",
		FlagSet: fs,
		Options: settings.Options(fs, false),
		Exec: func(ctx context.Context, args []string) error {
			urls, err := settings.ParseInterleaved(fs, args)
			if err != nil {
				return err
			}
			return runPublish(ctx, &cfg, urls, stdout, stderr)
		},
	}
}

// registerBatch binds the flags that make the batch: the -f file, the
// batch's settings and the request flags, shared by publish and
// schedule add.
func (cfg *publishConfig) registerBatch(fs *flag.FlagSet) {
	fs.StringVar(&cfg.file, "f", "", "read URLs from this `file` ('-' for standard input), in any batch form: one URL a line (# comments skipped), a JSON array of URL strings, or a JSON batch object, whose settings the flags may repeat but not contradict")
	fs.Int64Var(&cfg.timeoutMS, "timeout-ms", 0, "per-request timeout for this batch in ms (0 means the service's default)")
	fs.Var(&cfg.priority, "priority", fmt.Sprintf("the batch's priority `level`, %d to %d: each level up doubles its share of the service's slots (default: the service's, 0)", wire.MinPriority, wire.MaxPriority))
	fs.IntVar(&cfg.concurrency, "concurrency", 0, "requests in flight for this batch at most (0 means only the service's cap)")
	fs.StringVar(&cfg.correlationID, "correlation-id", "", "correlation id that ties this batch to others, served as one flow (default: the batch id, when the list is split)")
	fs.Float64Var(&cfg.perHostRate, "per-host-rate", 0, "requests per second to one host at most for this batch (and its split parts): it may lower the service's --per-host-rate, never raise it (0 means the service's)")
	fs.BoolVar(&cfg.robots, "robots", false, "ask the service to obey robots.txt for this batch: disallowed URLs fail as robots_disallowed without a request, Crawl-delay paces each site")
	fs.StringVar(&cfg.method, "X", "", "request method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (default GET, or POST with --data)")
	fs.Var(&cfg.headers, "H", "request header 'Name: value' (repeatable); no Host, Content-Length or hop-by-hop headers")
	fs.StringVar(&cfg.data, "data", "", "request body, sent as is to every URL")
	fs.StringVar(&cfg.dataFile, "data-file", "", "request body read from this file ('-' for standard input), sent as is to every URL")
	fs.StringVar(&cfg.credential, "credential", "", "name of a credential the service holds (its --credentials file), sent only to that credential's hosts")
	fs.Var(&cfg.responseHeaders, "response-header", "response header to return in each result's headers (repeatable, or comma-separated)")
	fs.BoolVar(&cfg.noConditional, "no-conditional", false, "with the service's --validators: send this batch's GETs without If-None-Match/If-Modified-Since, for full responses (results still say whether they changed)")
	fs.StringVar(&cfg.poll, "poll", "", "with the service's --validators: keep this batch's change state (validators, changed) apart under NAME (letters, digits, - and _), instead of sharing it per request with every batch without one; schedule add uses the schedule's name")
	fs.BoolVar(&cfg.noFollow, "no-follow", false, "do not follow redirects: a 3xx is the result (ask for its Location with --response-header Location)")
}

func (cfg *publishConfig) validate() error {
	switch {
	case cfg.maxBatch < 1:
		return fmt.Errorf("--max-batch must be at least 1, got %d", cfg.maxBatch)
	case cfg.priority.set && (cfg.priority.n < wire.MinPriority || cfg.priority.n > wire.MaxPriority):
		return fmt.Errorf("--priority must be from %d to %d, got %d", wire.MinPriority, wire.MaxPriority, cfg.priority.n)
	case cfg.concurrency < 0:
		return fmt.Errorf("--concurrency must not be negative, got %d", cfg.concurrency)
	case cfg.timeoutMS < 0:
		return fmt.Errorf("--timeout-ms must not be negative, got %d", cfg.timeoutMS)
	case !(cfg.perHostRate >= 0) || math.IsInf(cfg.perHostRate, 0):
		return fmt.Errorf("--per-host-rate must be a number of requests per second, 0 or more, got %g", cfg.perHostRate)
	case cfg.waitTimeout < 0:
		return fmt.Errorf("--wait-timeout must not be negative, got %s", cfg.waitTimeout)
	case len(cfg.id) > wire.MaxIDLength:
		return fmt.Errorf("--id is %d bytes, over the %d the service accepts", len(cfg.id), wire.MaxIDLength)
	case len(cfg.correlationID) > wire.MaxIDLength:
		return fmt.Errorf("--correlation-id is %d bytes, over the %d the service accepts", len(cfg.correlationID), wire.MaxIDLength)
	case cfg.data != "" && cfg.dataFile != "":
		return errors.New("--data and --data-file: give one body")
	case cfg.dataFile == "-" && cfg.file == "-":
		return errors.New("-f - and --data-file -: standard input can be read once")
	}
	if !wire.ValidMethod(cfg.method) {
		return fmt.Errorf("-X must be one of %s, got %q", strings.Join(wire.Methods(), ", "), cfg.method)
	}
	if err := wire.ValidateHeaders(cfg.headers); err != nil {
		return fmt.Errorf("-H: %w", err)
	}
	if err := wire.ValidPoll(cfg.poll); err != nil {
		return fmt.Errorf("--poll: %w", err)
	}
	return nil
}

// requestOptions are the request flags as the client's request defaults.
func (cfg *publishConfig) requestOptions(hasBody bool) wire.RequestOptions {
	o := wire.RequestOptions{Method: cfg.method, Headers: cfg.headers, Credential: cfg.credential, ResponseHeaders: cfg.responseHeaders,
		Poll: cfg.poll}
	if o.Method == "" && hasBody {
		o.Method = "POST" // as curl does with --data
	}
	if cfg.noFollow {
		follow := false
		o.FollowRedirects = &follow
	}
	if cfg.noConditional {
		conditional := false
		o.Conditional = &conditional
	}
	return o
}

// body reads --data or --data-file: nil when neither is given.
func (cfg *publishConfig) body() ([]byte, error) {
	switch {
	case cfg.data != "":
		return []byte(cfg.data), nil
	case cfg.dataFile == "-":
		return io.ReadAll(os.Stdin)
	case cfg.dataFile != "":
		return os.ReadFile(cfg.dataFile)
	}
	return nil, nil
}

// prepare checks the flags and builds the batch of args (then --file)
// with the body of --data or --data-file, and the request options that go
// with it: what publish sends and what schedule add keeps.
func (cfg *publishConfig) prepare(args []string) (wire.Batch, wire.RequestOptions, error) {
	if err := cfg.validate(); err != nil {
		return wire.Batch{}, wire.RequestOptions{}, err
	}
	list, err := collectURLs(args, cfg.file)
	if err != nil {
		return wire.Batch{}, wire.RequestOptions{}, err
	}
	body, err := cfg.body()
	if err != nil {
		return wire.Batch{}, wire.RequestOptions{}, fmt.Errorf("--data-file: %w", err)
	}
	batch, err := cfg.batch(list, body)
	if err != nil {
		return wire.Batch{}, wire.RequestOptions{}, err
	}
	return batch, cfg.requestOptions(body != nil), nil
}

// batch is list (the URLs given, and the -f file's batch with its
// settings) with the flags' settings: a setting the flags and the file
// both give must agree. body, when not nil, is the request body of every
// item that has none of its own (as a JSON string when it is UTF-8 text,
// else as body_base64). The request flags are not here: they are the
// client's request defaults, under the batch's own (WithRequestOptions).
func (cfg *publishConfig) batch(list wire.Batch, body []byte) (wire.Batch, error) {
	b := list
	var err error
	if b.ID, err = agree("--id", cfg.id, "id", b.ID); err != nil {
		return b, err
	}
	if b.TimeoutMS, err = agree("--timeout-ms", cfg.timeoutMS, "timeout_ms", b.TimeoutMS); err != nil {
		return b, err
	}
	if b.Concurrency, err = agree("--concurrency", cfg.concurrency, "concurrency", b.Concurrency); err != nil {
		return b, err
	}
	if b.CorrelationID, err = agree("--correlation-id", cfg.correlationID, "correlation_id", b.CorrelationID); err != nil {
		return b, err
	}
	if b.PerHostRate, err = agree("--per-host-rate", cfg.perHostRate, "per_host_rate", b.PerHostRate); err != nil {
		return b, err
	}
	b.Robots = b.Robots || cfg.robots
	if cfg.priority.set {
		if b.Priority != nil && *b.Priority != cfg.priority.n {
			return b, fmt.Errorf("--priority %d and the file's priority %d: give one", cfg.priority.n, *b.Priority)
		}
		p := cfg.priority.n
		b.Priority = &p
	}
	if body != nil {
		var item wire.Request
		if utf8.Valid(body) {
			item.Body, _ = json.Marshal(string(body))
		} else {
			item.BodyBase64 = base64.StdEncoding.EncodeToString(body)
		}
		for i := range b.URLs {
			if len(b.URLs[i].Body) == 0 && b.URLs[i].BodyBase64 == "" {
				b.URLs[i].Body, b.URLs[i].BodyBase64 = item.Body, item.BodyBase64
			}
		}
	}
	return b, nil
}

// agree is the setting a flag and the -f file's batch object give, or an
// error when both give one and they differ.
func agree[T comparable](flagName string, flagValue T, field string, fileValue T) (T, error) {
	var zero T
	switch {
	case flagValue == zero:
		return fileValue, nil
	case fileValue == zero || fileValue == flagValue:
		return flagValue, nil
	}
	return zero, fmt.Errorf("%s %v and the file's %s %v: give one", flagName, flagValue, field, fileValue)
}

func runPublish(ctx context.Context, cfg *publishConfig, args []string, stdout, stderr io.Writer) error {
	batch, opts, err := cfg.prepare(args)
	if err != nil {
		return err
	}
	urls := batch.URLs
	nc, err := cfg.nats.connect(nats.DefaultURL, "fetchstream publish")
	if err != nil {
		return fmt.Errorf("%w (is `fetchstream run` running?)", err)
	}
	defer nc.Close()
	warnAfter := noServiceWarning
	if cfg.waitTimeout > 0 {
		warnAfter = min(warnAfter, cfg.waitTimeout/2)
	}
	c, err := client.New(nc, client.WithSubject(cfg.subjects.in), client.WithBatchesSubject(cfg.subjects.batches),
		client.WithMaxBatch(cfg.maxBatch), client.WithWaitTimeout(cfg.waitTimeout),
		// Room for every result of the list and as many of other clients':
		// the output may be slower than the service.
		client.WithBuffer(max(client.DefaultBuffer, 2*len(urls))),
		client.WithNoServiceCheck(warnAfter, func(err error) {
			fmt.Fprintf(stderr, "fetchstream publish: warning: %v; waiting %s\n", explainNoService(err, cfg.subjects.in), waitingFor(cfg.waitTimeout))
		}),
		client.WithSilenceNotice(silenceEvery(cfg.waitTimeout), func(s client.Silence) {
			fmt.Fprintf(stderr, "fetchstream publish: %s\n", silenceLine(s, cfg.waitTimeout))
		}),
		client.WithRequestOptions(opts))
	if err != nil {
		return err
	}
	if !cfg.wait {
		sent, err := c.Send(ctx, batch)
		if err != nil {
			return err
		}
		for _, b := range sent {
			fmt.Fprintf(stdout, "published batch %s (%s) on %s\n", b.ID, countURLs(len(b.URLs)), cfg.subjects.in)
		}
		var none *client.NoServiceError
		if err := c.Ping(ctx); errors.As(err, &none) {
			fmt.Fprintf(stderr, "fetchstream publish: warning: %v\n", explainNoService(err, cfg.subjects.in))
		}
		return nil
	}
	start := time.Now()
	s, err := c.Publish(ctx, batch)
	if err != nil {
		return err
	}
	defer s.Close()
	var advance func()
	bar := newProgress(stderr, len(urls))
	if bar != nil {
		advance = func() { _ = bar.Add(1) }
	}
	tally, err := followResults(ctx, s, stdout, cfg.json, start, advance)
	if bar != nil && err == nil {
		_ = bar.Finish()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return interrupted(s)
	case err != nil:
		return explainNoService(err, cfg.subjects.in)
	case tally.Failed > 0 || tally.Rejected > 0:
		return errSomeFailed
	}
	return nil
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

// collectURLs is the batch of the URLs given as arguments, then the list
// of file ("-" is stdin), in any batch form (see readURLList); the settings
// of a file that holds a batch object come with it.
func collectURLs(args []string, file string) (wire.Batch, error) {
	var list wire.Batch
	if file != "" {
		var err error
		if list, err = readURLListFile(file); err != nil {
			return wire.Batch{}, err
		}
	}
	list.URLs = append(wire.URLs(args...), list.URLs...)
	if len(list.URLs) == 0 {
		return wire.Batch{}, errors.New("no URLs: give them as arguments or with -f FILE")
	}
	return list, nil
}
