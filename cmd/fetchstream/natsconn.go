package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fetchstream/fetchstream/connectors/embedded"
	"github.com/fetchstream/fetchstream/stages/backoff"
	"github.com/nats-io/nats.go"
)

// natsConn is a client connection and, when fetchstream started one, the
// embedded server behind it.
type natsConn struct {
	nc       *nats.Conn
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

// connectOrEmbed joins --nats-url, or starts an embedded server with
// JetStream on --listen and joins that.
func connectOrEmbed(ctx context.Context, cfg *runConfig, log *slog.Logger, m *metrics) (*natsConn, error) {
	url := cfg.nats.url
	var server *embedded.Server
	if url == "" {
		host, portText, err := net.SplitHostPort(cfg.listen)
		if err != nil {
			return nil, fmt.Errorf("--listen %q: want host:port: %w", cfg.listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil || port < -1 || port > 65535 {
			return nil, fmt.Errorf("--listen %q: bad port", cfg.listen)
		}
		if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		server, err = embedded.Start(embedded.Config{
			Host: host, Port: port, JetStream: true, StoreDir: cfg.dataDir})
		if err != nil {
			return nil, fmt.Errorf("%w; pass --nats-url to use a running server, or --listen for another port", err)
		}
		url = server.ClientURL()
		try := "nats -s " + url + " request fetch.urls '[\"https://example.com\"]'"
		if cfg.durability.jetStream { // a request to a stream's subject is answered by the stream
			try = "nats -s " + url + " pub fetch.urls '[\"https://example.com\"]'; nats -s " + url + " sub 'fetch.>'"
		}
		log.Info("embedded NATS server started", "url", url, "jetstream_dir", cfg.dataDir, "try", try)
	}
	flags := cfg.nats
	flags.url = url
	nc, err := firstConnect(ctx, &flags, log, m)
	if err != nil {
		if server != nil {
			server.Shutdown()
		}
		return nil, err
	}
	log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
	return &natsConn{nc: nc, embedded: server}, nil
}

// firstConnect connects to flags.url. While no server answers there (NATS
// may come up after the service, as in a compose start), it keeps trying
// with the reconnect backoff until ctx is done, and says so once; any
// other failure, such as refused credentials, ends it at once.
func firstConnect(ctx context.Context, flags *natsFlags, log *slog.Logger, m *metrics) (*nats.Conn, error) {
	for attempt := 1; ; attempt++ {
		nc, err := flags.connect(flags.url, "fetchstream", natsOptions(log, m)...)
		if err == nil || !errors.Is(err, nats.ErrNoServers) {
			return nc, err
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

// startThrowawayNATS starts an embedded server on a free loopback port,
// with JetStream in a new temporary directory, for the commands that need
// one only while they run (bench, demo). stop shuts it down and removes
// the directory.
func startThrowawayNATS(name string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "fetchstream-"+name+"-")
	if err != nil {
		return "", nil, err
	}
	ns, err := embedded.Start(embedded.Config{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return ns.ClientURL(), func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		os.RemoveAll(dir)
	}, nil
}
