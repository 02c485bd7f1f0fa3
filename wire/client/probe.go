package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pingWait bounds how long Ping waits for the answers of micro services;
// pingRest, how long it waits for more once one has answered.
const (
	pingWait = 2 * time.Second
	pingRest = 250 * time.Millisecond
)

// Ping says whether a fetchstream service seems to consume the input
// subject: nil when one does, a *NoServiceError (wrapping ErrNoService)
// when none does, another error when it cannot tell.
//
// How it tells: it sends $SRV.PING.fetchstream, which every service that
// registered as a NATS micro service answers (the core mode does), and
// takes an instance whose metadata "in" is the client's input subject (or
// that names none). No answer at all comes back at once as NATS's "no
// responders". When a JetStream stream captures the input subject, a
// consumer of that stream with pull requests waiting, messages being
// worked on or a push subscriber bound counts too. A consumer that is
// neither (a service that is not micro-registered reading a core subject,
// a JetStream service that is down) is not seen: in core mode a batch
// published with no subscriber is lost, in JetStream mode it waits in the
// stream for the service.
func (c *Client) Ping(ctx context.Context) error {
	stream, err := c.inputStream(ctx)
	if err != nil {
		return err
	}
	others, err := c.pingMicro(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrNoService) {
		return err
	}
	if stream != "" {
		active, err := c.activeConsumer(ctx, stream)
		if err != nil || active {
			return err
		}
	}
	return &NoServiceError{Subject: c.in, Stream: stream, Others: others}
}

// pingMicro returns nil when a micro service of that name reads the input
// subject, else ErrNoService and the input subjects the others read.
func (c *Client) pingMicro(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.nc.PublishRequest("$SRV.PING."+ServiceName, inbox, nil); err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	var others []string
	for {
		m, err := sub.NextMsgWithContext(ctx)
		switch {
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			return others, ErrNoService
		case err != nil:
			return nil, fmt.Errorf("ping: %w", err)
		}
		if others == nil { // after the first answer, the others come soon or not at all
			var cancelRest context.CancelFunc
			ctx, cancelRest = context.WithTimeout(ctx, pingRest)
			defer cancelRest()
		}
		var ping struct {
			Metadata map[string]string `json:"metadata"`
		}
		_ = json.Unmarshal(m.Data, &ping)
		in, named := ping.Metadata["in"]
		if !named || in == c.in {
			return nil, nil
		}
		if !slices.Contains(others, in) {
			others = append(others, in)
		}
	}
}

// activeConsumer reports whether a consumer of stream is being served.
func (c *Client) activeConsumer(ctx context.Context, stream string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("ping: stream %s: %w", stream, err)
	}
	list := s.ListConsumers(ctx)
	active := false
	for info := range list.Info() {
		active = active || consumerActive(info)
	}
	if err := list.Err(); err != nil && !active {
		return false, fmt.Errorf("ping: consumers of %s: %w", stream, err)
	}
	return active, nil
}

func consumerActive(info *jetstream.ConsumerInfo) bool {
	return info.NumWaiting > 0 || info.NumAckPending > 0 || info.PushBound
}
