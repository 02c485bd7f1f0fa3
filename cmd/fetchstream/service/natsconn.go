package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/embedded"
	"github.com/fetchstream/fetchstream/stages/backoff"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
	"github.com/fetchstream/fetchstream/wire"
)

// natsConn is a client connection and, when the service started one, the
// embedded server behind it.
type natsConn struct {
	nc       *nats.Conn
	url      string // the URL(s) joined: the embedded server's when there is one
	embedded *embedded.Server
}

// close flushes what the client still buffers, closes the connection and
// stops the embedded server, if any.
func (c *natsConn) close() {
	_ = c.nc.FlushTimeout(5 * time.Second)
	c.nc.Close()
	if c.embedded != nil {
		c.embedded.Shutdown()
	}
}

// connectOrEmbed joins cfg.NATS.URL, or starts an embedded server with
// JetStream on cfg.NATS.Listen and joins that.
func connectOrEmbed(ctx context.Context, cfg *Config, log *slog.Logger, m *metrics) (*natsConn, error) {
	url := cfg.NATS.URL
	var server *embedded.Server
	if url == "" {
		host, portText, _ := net.SplitHostPort(cfg.NATS.Listen) // validated by New
		port, _ := strconv.Atoi(portText)
		if err := os.MkdirAll(cfg.NATS.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded NATS server's NATS.DataDir: %w", err)
		}
		var err error
		server, err = embedded.Start(embedded.Config{
			Host: host, Port: port, JetStream: true, StoreDir: cfg.NATS.DataDir})
		if err != nil {
			if errors.Is(err, embedded.ErrStoreInUse) {
				return nil, fmt.Errorf("%w; set NATS.DataDir to another directory, or NATS.URL to join the server already running", err)
			}
			return nil, fmt.Errorf("%w; set NATS.URL to use a running server, or NATS.Listen for another address", err)
		}
		url = server.ClientURL()
		try, tryNATS := tryHints(url, &cfg.Subjects, cfg.JetStream.Enabled)
		log.Info("embedded NATS server started", "url", url, "jetstream_dir", cfg.NATS.DataDir, "try", try, "or_with_nats_cli", tryNATS)
	}
	nc, err := firstConnect(ctx, url, cfg.NATS.Options, log, m)
	if err != nil {
		if server != nil {
			server.Shutdown()
		}
		return nil, err
	}
	log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
	return &natsConn{nc: nc, url: url, embedded: server}, nil
}

// firstConnect connects to url. While no server answers there (NATS may
// come up after the service, as in a compose start), it keeps trying with
// the reconnect backoff until ctx is done, and says so once; any other
// failure, such as refused credentials, ends it at once.
func firstConnect(ctx context.Context, url string, opts []nats.Option, log *slog.Logger, m *metrics) (*nats.Conn, error) {
	all := append(append(append([]nats.Option(nil), opts...), nats.Name("fetchstream")), natsOptions(log, m)...)
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(url, all...)
		if err == nil {
			return nc, nil
		}
		err = fmt.Errorf("connect to NATS at %s: %w", RedactURLs(url), err)
		if !errors.Is(err, nats.ErrNoServers) {
			return nil, err
		}
		if attempt == 1 {
			log.Warn("no NATS server answers yet; trying again until one does", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(reconnectDelay(attempt)):
		}
	}
}

// RedactURLs hides the passwords in a comma-separated list of server URLs,
// as the service's errors and logs show them.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, part := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(part)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// reconnectDelay is the pause after the attempts-th failed pass over the
// server list: doubling from 250ms up to 8s, the upper half of it random,
// so that replicas cut off together do not come back in lockstep.
func reconnectDelay(attempts int) time.Duration {
	return backoff.Exponential{Base: 250 * time.Millisecond, Max: 8 * time.Second, Jitter: backoff.Equal}.Delay(attempts)
}

// natsOptions: reconnect forever with jittered exponential backoff, ping
// often enough to notice a dead server within a minute, and log and count
// what happens to the connection.
func natsOptions(log *slog.Logger, m *metrics) []nats.Option {
	slow := &slowConsumerLog{log: log}
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // our own Close at shutdown
			}
			m.disconnects.Inc()
			log.Warn("NATS disconnected; reconnecting without limit, holding publishes meanwhile", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			m.reconnects.Inc()
			log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.PingInterval(20 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
				m.slowConsumer.Inc()
				slow.report(sub)
				return
			}
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("NATS error", "subject", subject, "err", err)
		}),
	}
}

// slowConsumerLog explains slow-consumer events: batches came faster than
// this replica fetches them, its buffer filled, and NATS dropped some.
// nats.go reports one event per episode, from a queue that may run behind:
// events that arrive when no more batches have been dropped since the last
// line add nothing, and are not logged again (the metric counts them all).
type slowConsumerLog struct {
	log         *slog.Logger
	lastDropped sync.Map // *nats.Subscription -> int, the total last logged
}

func (l *slowConsumerLog) report(sub *nats.Subscription) {
	dropped, _ := sub.Dropped()
	if last, ok := l.lastDropped.Swap(sub, dropped); ok && last.(int) == dropped {
		return
	}
	limitMsgs, limitBytes, _ := sub.PendingLimits()
	l.log.Error("slow consumer: batches arrive faster than this replica fetches them; its buffer is full and NATS dropped batches, which are lost (core NATS is at-most-once)",
		"subject", sub.Subject, "dropped_total", dropped, "pending_batches_limit", limitMsgs, "pending_bytes_limit", limitBytes,
		"what_to_do", "add replicas to the queue group, raise --concurrency or --max-active, or run with --jetstream, where batches wait in a stream instead of being dropped")
}

// tryHints are the command lines that send the embedded server at url a
// first batch on the configured input subject (a wildcard token filled
// in) and show its results. publish is fetchstream's own, which works in
// both modes (and with a stream left over the input of a core service),
// naming --nats-url, --in and --batches-subject only where they are not
// publish's defaults. natsCLI is the nats CLI's, as the mode needs: in
// core mode a request, whose reply is the results; in JetStream mode,
// where the stream answers a request with its ack, a subscription to the
// outputs and a publish.
func tryHints(url string, subjects *SubjectsConfig, jetStream bool) (publish, natsCLI string) {
	tokens := strings.Split(subjects.In, ".")
	for i, t := range tokens {
		if t == "*" || t == ">" {
			tokens[i] = "example"
		}
	}
	in := strings.Join(tokens, ".")
	const batch = `'["https://example.com"]'`
	publish = "fetchstream publish --wait"
	if url != nats.DefaultURL {
		publish += " --nats-url " + url
	}
	if in != wire.DefaultInSubject {
		publish += " --in " + in
	}
	if subjects.Batches != wire.DefaultBatchesSubject {
		publish += " --batches-subject " + subjects.Batches
	}
	publish += " https://example.com"
	if jetStream {
		return publish, "nats -s " + url + " sub " + subjects.Out + " " + subjects.Batches + " & nats -s " + url + " pub " + in + " " + batch
	}
	return publish, "nats -s " + url + " request " + in + " " + batch
}

// setUpStorage finds or creates the results stream, the object store
// bucket and the validators bucket Config.Storage names, before the
// pipeline starts: the publisher then finds the results subjects in a
// stream (and, in JetStream mode, waits for its acks), and the fetcher
// gets the buckets for large bodies and for validators (returned, for
// its writer to be run; nil without one). Each waits out elections and a
// lost node until setUpBy.
func (s *Service) setUpStorage(ctx context.Context, setUpBy time.Time, nc *nats.Conn, fetcher *httpfetch.Config) (*connectors.ValidatorBucket, error) {
	st := &s.cfg.Storage
	ctx, cancel := context.WithDeadline(ctx, setUpBy)
	defer cancel()
	if st.ResultsStream != "" {
		if err := connectors.EnsureResultsStream(ctx, nc, s.cfg.resultsStreamConfig(), s.log); err != nil {
			return nil, err
		}
	}
	var validators *connectors.ValidatorBucket
	if st.Validators != "" {
		var err error
		if validators, err = connectors.NewValidatorBucket(ctx, nc, st.validatorsConfig(), s.log); err != nil {
			return nil, err
		}
		fetcher.Validators, fetcher.ValidatorTimeout = validators, st.ValidatorsTimeout
		s.log.Info("validators kept: GETs are conditional, results say whether they changed", "bucket", st.Validators,
			"changes", s.cfg.Subjects.Changes)
	}
	if st.ObjectStore != "" {
		store, err := connectors.NewObjectStore(ctx, nc, st.objectStoreConfig(), s.log)
		if err != nil {
			return nil, err
		}
		fetcher.Objects, fetcher.MaxObject = store, st.MaxObject
		s.log.Info("bodies over the inline cap go to the object store", "bucket", st.ObjectStore,
			"max_body", fetcher.MaxBody, "max_object", st.MaxObject)
	}
	return validators, nil
}
