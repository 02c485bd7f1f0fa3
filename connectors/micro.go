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
	// Stats, if set, adds its value to the endpoint's `nats micro stats`.
	Stats func() any
}

// MicroInlet is a source the micro endpoint's requests can join:
// *CoreSource and *JetStreamSource.
type MicroInlet interface {
	// offer emits in, blocking while the pipeline is busy; it returns
	// false when the source has closed and in was not taken.
	offer(in *stages.Inbound) bool
}

var (
	_ MicroInlet = (*CoreSource)(nil)
	_ MicroInlet = (*JetStreamSource)(nil)
)

// RegisterMicro adds the micro service with its "fetch" endpoint, whose
// requests go into source's output like messages from the input subject.
// A request is a direct request-reply in either mode: at most once, with
// nothing to settle (in JetStream mode it does not go through the stream,
// so a worker that dies with it loses it; the caller's request times out).
// A request that comes once the source has closed is answered with a 503
// micro error. It returns once the server has the service's
// subscriptions. Stop the returned service before the source closes.
func RegisterMicro(nc *nats.Conn, source MicroInlet, cfg MicroConfig) (micro.Service, error) {
	if cfg.Subject == "" || cfg.Name == "" {
		return nil, fmt.Errorf("%w: micro service needs a name and a subject", ErrConfig)
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
	handler := micro.HandlerFunc(func(req micro.Request) {
		in := inbound(req.Data(), nats.Header(req.Headers()), req.Reply())
		in.Received = time.Now()
		if !source.offer(in) {
			_ = req.Error("503", "fetchstream is shutting down; try again", nil)
		}
	})
	if err := svc.AddEndpoint("fetch", handler, micro.WithEndpointSubject(cfg.Subject),
		micro.WithEndpointMetadata(map[string]string{"format": "batch in (see the service's request_format), ordered JSON array of results out"})); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("add micro endpoint: %w", err)
	}
	// The service's subscriptions are only sent; once the server has them,
	// a request made after this returns finds a responder.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("register micro service: %w", err)
	}
	return svc, nil
}
