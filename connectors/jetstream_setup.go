package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the JetStream input.
const (
	DefaultStream        = "FETCH_URLS"
	DefaultDurable       = "fetchstream"
	DefaultAckWait       = 30 * time.Second
	DefaultMaxDeliver    = 5
	DefaultMaxAckPending = 1000
)

// ConsumerSetup names the stream and durable pull consumer batches are
// read from, and the settings used when fetchstream has to create them.
// An existing stream or consumer is used as it is, never changed: where
// its settings differ from these, a warning says so and its own apply.
type ConsumerSetup struct {
	Stream  string // stream name; created over Subject if absent
	Subject string // the input subject the stream captures
	Durable string // durable pull consumer shared by all replicas

	AckWait       time.Duration // for a created consumer; the existing one's otherwise
	MaxDeliver    int           // for a created consumer; -1: unlimited
	MaxAckPending int           // for a created consumer; across all replicas
	// Replicas is the created stream's replica count (0 means 1; 3 on a
	// three-node cluster, so that losing a node loses no batch). The
	// consumer is created with the stream's count: it follows its stream.
	Replicas int
	// Embedded: the server is the service's own embedded one, so a
	// warning may advise another store directory (--data-dir).
	Embedded bool
	// SetupTimeout bounds the whole set-up of the stream and consumer,
	// which waits out elections and a lost node, each request tried again
	// after SetupTryTimeout (0 means DefaultSetupTimeout).
	SetupTimeout time.Duration
}

// setupTimeout is SetupTimeout, or DefaultSetupTimeout for 0.
func (c ConsumerSetup) setupTimeout() time.Duration {
	if c.SetupTimeout <= 0 {
		return DefaultSetupTimeout
	}
	return c.SetupTimeout
}

// Validate reports the first field of c that NewJetStreamSource would
// refuse, as a *wire.ConfigError naming it (wrapping ErrConfig), or nil.
func (c ConsumerSetup) Validate() error {
	switch {
	case !validStreamName(c.Stream):
		return configError("Stream", "%q: a stream name is not empty and has no spaces, dots, '*', '>', '/' or '\\'", c.Stream)
	case c.Subject == "":
		return configError("Subject", "must not be empty")
	case c.Durable == "":
		return configError("Durable", "must not be empty")
	case c.AckWait < time.Second:
		return configError("AckWait", "must be at least 1s, got %s", c.AckWait)
	case c.MaxDeliver != -1 && c.MaxDeliver < 2:
		return configError("MaxDeliver", "must be at least 2 (the last delivery is dead-lettered), or -1 for no limit; got %d", c.MaxDeliver)
	case c.MaxAckPending < 1:
		return configError("MaxAckPending", "must be at least 1, got %d", c.MaxAckPending)
	case c.SetupTimeout < 0:
		return configError("SetupTimeout", "must not be negative (0 means the default, %s), got %s", DefaultSetupTimeout, c.SetupTimeout)
	}
	return validReplicas(c.Replicas)
}

// MaxReplicas is the most replicas JetStream keeps of a stream.
const MaxReplicas = 5

func validReplicas(n int) error {
	if n < 0 || n > MaxReplicas {
		return configError("Replicas", "must be from 1 to %d (0 means 1), got %d", MaxReplicas, n)
	}
	return nil
}

// ensureConsumerRetrying finds or creates the stream, checks which
// stream captures the input subject, then finds or creates the consumer:
// each a step that waits out elections and a lost node (see setupStep)
// until ctx ends. A consumer or stream fetchstream cannot work with
// (ErrConfig), and a server without JetStream, fail at once.
func ensureConsumerRetrying(ctx context.Context, js jetstream.JetStream, c ConsumerSetup, log *slog.Logger) (jetstream.Consumer, *jetstream.ConsumerInfo, error) {
	stream, err := setupStep(ctx, js.Conn(), log, "the JetStream stream "+c.Stream, func(ctx context.Context) (jetstream.Stream, error) {
		return ensureStream(ctx, js, c, log)
	})
	if err != nil {
		return nil, nil, err
	}
	warnReplicas(log, c.Stream, stream.CachedInfo().Config.Replicas, c.Replicas)
	owner, err := StreamOf(ctx, js, c.Subject, log)
	switch {
	case err != nil:
		return nil, nil, err
	case owner == "":
		log.Warn("the stream does not capture the input subject: batches published on it never reach fetchstream",
			"stream", c.Stream, "subject", c.Subject, "stream_subjects", stream.CachedInfo().Config.Subjects)
	case owner != c.Stream:
		log.Warn("the input subject is captured by another stream than the one configured", "subject", c.Subject,
			"captured_by", owner, "stream", c.Stream)
	}
	cons, err := setupStep(ctx, js.Conn(), log, "the JetStream consumer "+c.Durable+" on stream "+c.Stream,
		func(ctx context.Context) (jetstream.Consumer, error) { return ensureConsumer(ctx, stream, c, log) })
	if err != nil {
		return nil, nil, err
	}
	info := cons.CachedInfo()
	if err := checkConsumer(info.Config, c, log); err != nil {
		return nil, nil, err
	}
	return cons, info, nil
}

// ensureConsumer finds the consumer, or creates it: one try. Two replicas
// starting at once may both try to create: creating with the same
// settings is idempotent on the server, and a losing create falls back to
// using what the winner made.
func ensureConsumer(ctx context.Context, stream jetstream.Stream, c ConsumerSetup, log *slog.Logger) (jetstream.Consumer, error) {
	cons, err := stream.Consumer(ctx, c.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       c.Durable,
			Description:   "fetchstream workers: batches of URLs, acked once their results are published",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.AckWait,
			MaxDeliver:    c.MaxDeliver,
			MaxAckPending: c.MaxAckPending,
			FilterSubject: c.Subject,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = stream.Consumer(ctx, c.Durable)
		} else if err == nil {
			log.Info("created JetStream consumer", "stream", c.Stream, "durable", c.Durable,
				"ack_wait", c.AckWait, "max_deliver", c.MaxDeliver, "max_ack_pending", c.MaxAckPending)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("JetStream consumer %q on stream %q: %w", c.Durable, c.Stream, err)
	}
	return cons, nil
}

// ensureStream finds the input stream, or creates it: one try.
func ensureStream(ctx context.Context, js jetstream.JetStream, c ConsumerSetup, log *slog.Logger) (jetstream.Stream, error) {
	stream, err := js.Stream(ctx, c.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        c.Stream,
			Description: "fetchstream input: batches of URLs, kept until a worker acks them",
			Subjects:    []string{c.Subject},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    max(c.Replicas, 1),
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = js.Stream(ctx, c.Stream)
		} else if err == nil {
			log.Info("created JetStream stream", "stream", c.Stream, "subject", c.Subject, "retention", "workqueue",
				"replicas", max(c.Replicas, 1))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("JetStream stream %q: %w", c.Stream, err)
	}
	return stream, nil
}

// checkConsumer refuses consumers fetchstream cannot work with, and warns
// where an existing consumer's settings differ from the requested ones.
func checkConsumer(got jetstream.ConsumerConfig, want ConsumerSetup, log *slog.Logger) error {
	switch {
	case got.AckPolicy != jetstream.AckExplicitPolicy:
		return fmt.Errorf("%w: consumer %q has ack policy %s; fetchstream needs explicit acks to ack a batch only once its results are published",
			ErrConfig, want.Durable, got.AckPolicy)
	case got.DeliverSubject != "":
		return fmt.Errorf("%w: consumer %q is a push consumer; fetchstream needs a pull consumer", ErrConfig, want.Durable)
	case got.MaxDeliver == 1:
		return fmt.Errorf("%w: consumer %q has max deliver 1: its only delivery would go to the dead-letter subject", ErrConfig, want.Durable)
	}
	fix := fmt.Sprintf("for the flags' settings, delete it (nats consumer rm -f %s %s; the next start creates it, and the stream keeps its batches) or use another --durable name",
		want.Stream, want.Durable)
	if want.Embedded {
		fix += ", or start with another --data-dir"
	}
	differs := func(what string, used, asked any) {
		log.Warn("the existing JetStream consumer differs from the flags; using it unchanged: "+fix, "durable", want.Durable,
			"setting", what, "consumer", used, "flag", asked)
	}
	if got.AckWait != want.AckWait {
		differs("ack_wait", got.AckWait, want.AckWait)
	}
	if got.MaxDeliver != want.MaxDeliver && !(got.MaxDeliver <= 0 && want.MaxDeliver == -1) {
		differs("max_deliver", got.MaxDeliver, want.MaxDeliver)
	}
	if got.MaxAckPending != want.MaxAckPending {
		differs("max_ack_pending", got.MaxAckPending, want.MaxAckPending)
	}
	if got.FilterSubject != "" && got.FilterSubject != want.Subject {
		differs("filter_subject", got.FilterSubject, want.Subject)
	}
	return nil
}

// redeliveryWait is how long the server waits for an ack before it
// redelivers a message of this consumer: AckWait, or the first BackOff
// step when one is set.
func redeliveryWait(cfg jetstream.ConsumerConfig) time.Duration {
	wait := cfg.AckWait
	if wait <= 0 {
		wait = DefaultAckWait
	}
	if len(cfg.BackOff) > 0 && cfg.BackOff[0] > 0 && cfg.BackOff[0] < wait {
		wait = cfg.BackOff[0]
	}
	return wait
}
