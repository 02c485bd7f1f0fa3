package connectors

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/stages"
)

// MicroConfig describes the NATS micro service fetchstream registers, so
// that `nats micro ls`, `info` and `stats` show it.
type MicroConfig struct {
	Name        string // service name, e.g. fetchstream
	Version     string // semantic version
	Description string
	// Subject of the "fetch" endpoint: a request-reply way in that works
	// as the input subject does (the reply is the ordered results array).
	Subject  string
	Queue    string            // queue group shared by replicas
	Metadata map[string]string // shown by `nats micro info`
	// PendingMsgs and PendingBytes bound the requests the endpoint buffers
	// while the pipeline is busy, as CoreSourceConfig's bound the input
	// subject's; past them requests are dropped (a slow consumer, in the
	// endpoint's stats) and their clients time out. 0 means the default
	// (DefaultPendingBatches, DefaultPendingBytes); PendingBytes, when set,
	// at least 1KiB.
	PendingMsgs  int
	PendingBytes int
	// Stats, if set, adds its value to the endpoint's `nats micro stats`.
	Stats func() any
	// Replies decides where a request's reply (its own reply subject, or
	// its Fetch-Reply-To) may go; nil: the inboxes of
	// DefaultReplySubjects alone (see ReplyPolicy).
	Replies *ReplyPolicy
}

// MicroInlet is a source the micro endpoint's requests can join:
// *CoreSource and *JetStreamSource.
type MicroInlet interface {
	// offer emits in, blocking while the pipeline is busy; it returns
	// false when the source has closed and in was not taken.
	offer(in *stages.Inbound) bool
	// input is the subject the source reads batches from.
	input() string
}

// fedInlet is a MicroInlet that stops the micro service itself as it
// closes, and waits for the requests it took (*CoreSource).
type fedInlet interface {
	MicroInlet
	feed(in *stages.Inbound) bool   // offer, tracked as a feeder's
	attach(stop func() error) error // stop is called first when the source closes
}

var (
	_ MicroInlet = (*CoreSource)(nil)
	_ MicroInlet = (*JetStreamSource)(nil)
	_ fedInlet   = (*CoreSource)(nil)
)

// RegisterMicro adds the micro service with its "fetch" endpoint, whose
// requests go into source's output like messages from the input subject.
// A request is a direct request-reply in either mode: at most once, with
// nothing to settle (in JetStream mode it does not go through the stream,
// so a worker that dies with it loses it; the caller's request times out).
// It returns once the server has the service's subscriptions. A
// *CoreSource stops the service when it closes, and closes only once the
// endpoint has handed over the requests it took (none for feederQuiet),
// so they reach the pipeline and get their reply; stop it before a
// *JetStreamSource closes. A request that comes once the source has
// closed is answered at once with a 503 micro error saying to send it
// again, never left without a reply.
func RegisterMicro(nc *nats.Conn, source MicroInlet, cfg MicroConfig) (micro.Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	svcCfg := micro.Config{
		Name:        cfg.Name,
		Version:     cfg.Version,
		Description: cfg.Description,
		QueueGroup:  cfg.Queue,
		Metadata:    cfg.Metadata,
	}
	if cfg.Stats != nil {
		svcCfg.StatsHandler = func(*micro.Endpoint) any { return cfg.Stats() }
	}
	svc, err := micro.AddService(nc, svcCfg)
	if err != nil {
		return nil, fmt.Errorf("register micro service: %w", err)
	}
	offer := source.offer
	fed, isFed := source.(fedInlet)
	if isFed {
		offer = fed.feed
	}
	handler := micro.HandlerFunc(func(req micro.Request) {
		in := inbound(req.Data(), nats.Header(req.Headers()), req.Reply(), cfg.Replies, cfg.Subject, source.input())
		in.Subject, in.Received = req.Subject(), time.Now()
		if !offer(in) {
			_ = req.Error("503", "fetchstream is shutting down: send the batch again", nil)
		}
	})
	opts := []micro.EndpointOpt{micro.WithEndpointSubject(cfg.Subject),
		micro.WithEndpointMetadata(map[string]string{"format": "batch in (see the service's request_format), ordered JSON array of results out"})}
	opts = append(opts, micro.WithEndpointPendingLimits(pendingLimits(cfg.PendingMsgs, cfg.PendingBytes)))
	if err := svc.AddEndpoint("fetch", handler, opts...); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("add micro endpoint: %w", err)
	}
	if isFed {
		if err := fed.attach(svc.Stop); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("register micro service: %w", err)
		}
	}
	// The service's subscriptions are only sent; once the server has them,
	// a request made after this returns finds a responder.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("register micro service: %w", err)
	}
	return svc, nil
}
