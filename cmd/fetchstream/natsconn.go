package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors"
)

// natsConn is a client connection and, when fetchstream started one, the
// embedded server behind it.
type natsConn struct {
	nc       *nats.Conn
	embedded *server.Server
}

// close flushes what the client still buffers, closes the connection and
// stops the embedded server, if any.
func (c *natsConn) close() {
	_ = c.nc.FlushTimeout(5 * time.Second)
	c.nc.Close()
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}

// connectOrEmbed joins --nats-url, or starts an embedded server with
// JetStream on --listen and joins that.
func connectOrEmbed(cfg *runConfig, log *slog.Logger, m *metrics) (*natsConn, error) {
	url := cfg.nats.url
	var embedded *server.Server
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
		embedded, err = connectors.StartEmbedded(connectors.EmbeddedConfig{
			Host: host, Port: port, JetStream: true, StoreDir: cfg.dataDir})
		if err != nil {
			return nil, fmt.Errorf("%w; pass --nats-url to use a running server, or --listen for another port", err)
		}
		url = embedded.ClientURL()
		log.Info("embedded NATS server started", "url", url, "jetstream_dir", cfg.dataDir,
			"try", "nats -s "+url+" request fetch.urls '[\"https://example.com\"]'")
	}
	flags := cfg.nats
	flags.url = url
	nc, err := flags.connect(url, "fetchstream", natsOptions(log, m)...)
	if err != nil {
		if embedded != nil {
			embedded.Shutdown()
		}
		return nil, err
	}
	log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
	return &natsConn{nc: nc, embedded: embedded}, nil
}

// natsOptions: reconnect forever with jittered backoff, and log and count
// what happens to the connection.
func natsOptions(log *slog.Logger, m *metrics) []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: the connection was closed on purpose
				m.disconnects.Inc()
				log.Warn("NATS disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			m.reconnects.Inc()
			log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				m.slowConsumer.Inc()
				log.Error("slow consumer: batches arrived faster than they were taken, and NATS dropped some for this process; "+
					"raise --concurrency, add replicas, or use --jetstream", "subject", subject)
				return
			}
			log.Error("NATS error", "subject", subject, "err", err)
		}),
	}
}
