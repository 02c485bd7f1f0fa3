package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the results stream.
const (
	DefaultResultsMaxAge = 24 * time.Hour
	// MinDuplicateWindow is the least duplicate window DuplicateWindow gives.
	MinDuplicateWindow = 2 * time.Minute
)

// ResultsStreamConfig describes the stream that keeps results and
// summaries, created by EnsureResultsStream if absent.
type ResultsStreamConfig struct {
	Name     string   // stream name
	Subjects []string // the results and summaries subjects it captures
	// MaxAge is how long a result is kept; 0 means DefaultResultsMaxAge.
	MaxAge time.Duration
	// Duplicates is the window within which a second publish with the same
	// Nats-Msg-Id is dropped; see DuplicateWindow. 0 means
	// MinDuplicateWindow. At most MaxAge.
	Duplicates time.Duration
	Replicas   int // 0 means 1
}

// Validate reports the first field of c that EnsureResultsStream would
// refuse, as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c ResultsStreamConfig) Validate() error { return c.withDefaults() }

// withDefaults validates c and fills in the defaults of its zero fields.
func (c *ResultsStreamConfig) withDefaults() error {
	if c.MaxAge == 0 {
		c.MaxAge = DefaultResultsMaxAge
	}
	if c.Duplicates == 0 {
		c.Duplicates = min(MinDuplicateWindow, c.MaxAge)
	}
	switch {
	case !validStreamName(c.Name):
		return configError("Name", "%q: a stream name is not empty and has no spaces, dots, '*', '>', '/' or '\\'", c.Name)
	case len(c.Subjects) == 0:
		return configError("Subjects", "must not be empty")
	case c.MaxAge < time.Second:
		return configError("MaxAge", "must be at least 1s (0 means the default, %s), got %s", DefaultResultsMaxAge, c.MaxAge)
	case c.Duplicates < 0 || c.Duplicates > c.MaxAge:
		return configError("Duplicates", "(%s) must be from 0 to MaxAge (%s)", c.Duplicates, c.MaxAge)
	}
	return validReplicas(c.Replicas)
}

// DuplicateWindow is the duplicate window that makes a redelivered batch's
// results harmless: its first and last publishes of one result or
// summary lie within it. A batch is delivered at most maxDeliver times;
// each delivery but the last (which publishes only a max_deliver
// summary) is held at most ackWait after its worker's last sign of life,
// or, when its output stream was unavailable, retryFor of waiting on the
// stream, and is then handed back after at most HandBackDelay. So the
// window is the sum over deliveries n = 1 .. maxDeliver-1 of ackWait +
// retryFor + HandBackDelay(ackWait, n): with the defaults (30s, 5, 2m)
// 17m30s. It is at least MinDuplicateWindow and at most maxAge, and
// maxAge when maxDeliver is unlimited (<= 0). The server keeps every
// message id of the window in memory: about 100 bytes per result.
func DuplicateWindow(ackWait time.Duration, maxDeliver int, retryFor, maxAge time.Duration) time.Duration {
	if maxDeliver <= 0 {
		return maxAge
	}
	var span time.Duration
	for n := 1; n < maxDeliver && span < maxAge; n++ {
		span += ackWait + retryFor + HandBackDelay(ackWait, uint64(n))
	}
	return min(max(span, MinDuplicateWindow), maxAge)
}

// EnsureResultsStream finds the results stream or creates it (file
// storage, limits retention, MaxAge, the duplicate window, Replicas). An
// existing stream is used as it is: where its settings differ, a warning
// says so. It fails if the stream does not capture every subject of cfg,
// since results published outside it would not be kept. Each request is
// tried again while JetStream cannot answer it (no leader elected yet, a
// node lost; see StreamOf), until ctx ends: ctx bounds the whole wait.
func EnsureResultsStream(ctx context.Context, nc *nats.Conn, cfg ResultsStreamConfig, log *slog.Logger) error {
	if err := cfg.withDefaults(); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := setupStep(ctx, nc, log, "the results stream "+cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return ensureResultsStream(ctx, js, cfg, log)
	})
	if err != nil {
		return err
	}
	got := stream.CachedInfo().Config
	for _, subject := range cfg.Subjects {
		owner, err := StreamOf(ctx, js, subject, log)
		if err != nil {
			return err
		}
		if owner != cfg.Name {
			return fmt.Errorf("%w: results stream %q (subjects %v) does not capture %q (captured by %q)",
				ErrConfig, cfg.Name, got.Subjects, subject, owner)
		}
	}
	differs := func(what string, used, asked any) {
		log.Warn("the existing results stream differs from the configuration; using it unchanged", "stream", cfg.Name,
			"setting", what, "stream_value", used, "configured", asked)
	}
	if got.MaxAge != cfg.MaxAge {
		differs("max_age", got.MaxAge, cfg.MaxAge)
	}
	if got.Duplicates < cfg.Duplicates {
		differs("duplicates", got.Duplicates, cfg.Duplicates)
	}
	if !slices.Equal(got.Subjects, cfg.Subjects) {
		differs("subjects", got.Subjects, cfg.Subjects)
	}
	warnReplicas(log, cfg.Name, got.Replicas, cfg.Replicas)
	return nil
}

// ensureResultsStream finds the results stream, or creates it: one try.
func ensureResultsStream(ctx context.Context, js jetstream.JetStream, cfg ResultsStreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	stream, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        cfg.Name,
			Description: "fetchstream results and batch summaries, each once per Nats-Msg-Id",
			Subjects:    cfg.Subjects,
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      cfg.MaxAge,
			Duplicates:  cfg.Duplicates,
			Replicas:    max(cfg.Replicas, 1),
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = js.Stream(ctx, cfg.Name)
		} else if err == nil {
			log.Info("created the results stream", "stream", cfg.Name, "subjects", cfg.Subjects, "max_age", cfg.MaxAge,
				"duplicates", cfg.Duplicates, "replicas", max(cfg.Replicas, 1))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("results stream %q: %w", cfg.Name, err)
	}
	return stream, nil
}

// warnReplicas warns when an existing stream or bucket keeps another
// number of replicas than asked (0 asks for 1).
func warnReplicas(log *slog.Logger, name string, got, asked int) {
	if max(got, 1) != max(asked, 1) {
		log.Warn("the existing stream has another replica count than configured; using it unchanged", "stream", name,
			"replicas", max(got, 1), "configured", max(asked, 1))
	}
}
