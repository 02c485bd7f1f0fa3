package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bounds of the JetStream set-up (streams, consumer, bucket, lookups).
const (
	// DefaultSetupTimeout is how long, in all, the set-up of the input
	// stream and consumer waits out elections and a lost node when
	// ConsumerSetup.SetupTimeout is 0.
	DefaultSetupTimeout = 2 * time.Minute
	// SetupTryTimeout bounds one try of a set-up step. A request that
	// reaches a stream, consumer or meta group with no leader is never
	// answered; the try is abandoned after this and sent again, so that
	// the first leader elected answers it.
	SetupTryTimeout = 3 * time.Second
)

// Pauses between the tries of a set-up step (equal jitter, doubling).
const (
	setupPauseMin = 250 * time.Millisecond
	setupPauseMax = 2 * time.Second
)

// setupStep runs try, each time within SetupTryTimeout, until it
// succeeds, fails for a reason that will not pass (see setupMayPass), or
// ctx ends: ctx is the whole bound of the wait. The first failure that
// may pass is logged once, at warn, saying what the step waits for; each
// later try at debug; and, if it then succeeds, one line says it is done
// waiting. Once ctx ends, the last error is returned, saying how long it
// waited. what names the step ("the JetStream stream FETCH_URLS"); log
// nil logs nothing.
func setupStep[T any](ctx context.Context, nc *nats.Conn, log *slog.Logger, what string,
	try func(ctx context.Context) (T, error)) (T, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pause := newPauses(setupPauseMin, setupPauseMax)
	start := time.Now()
	waiting := false // since the first failure that may pass
	for tries := 1; ; tries++ {
		tryCtx, cancel := context.WithTimeout(ctx, SetupTryTimeout)
		v, err := try(tryCtx)
		cancel()
		if err == nil {
			if waiting {
				log.Info("done waiting for "+what, "waited", time.Since(start).Round(time.Millisecond).String(), "tries", tries)
			}
			return v, nil
		}
		why, mayPass := setupMayPass(nc, err)
		if !mayPass {
			return v, err
		}
		if ctx.Err() != nil {
			return v, fmt.Errorf("gave up waiting for %s after %s (%s): %w", what,
				time.Since(start).Round(time.Millisecond), why, err)
		}
		if !waiting {
			waiting = true
			attrs := []any{"err", err}
			if deadline, ok := ctx.Deadline(); ok {
				attrs = append(attrs, "gives_up_in", time.Until(deadline).Round(time.Second).String())
			}
			log.Warn("waiting for "+what+": "+why+"; retrying", attrs...)
		} else {
			log.Debug("still waiting for "+what, "why", why, "try", tries, "err", err)
		}
		pause.sleep(ctx)
	}
}

// setupMayPass says whether a set-up request's error may pass if the
// request is sent again, and why it failed in a few words. It may pass
// while no leader answers (a timeout), while JetStream is not up yet on a
// server that has it (no responders), while the cluster reports itself
// unavailable, leaderless, without the peers to place replicas, or the
// stream or consumer offline, and while the connection reconnects. A
// refused configuration (ErrConfig), a server or account without
// JetStream and every other answer of the server fail at once.
func setupMayPass(nc *nats.Conn, err error) (string, bool) {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, ErrConfig), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount), errors.Is(err, context.Canceled):
		return "", false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Sprintf("no answer within %s, no leader elected yet", SetupTryTimeout), true
	case errors.Is(err, nats.ErrNoResponders):
		if hasJS, _ := nc.ConnectedServerJetStream(); !hasJS && nc.IsConnected() {
			return "", false // a server without JetStream
		}
		return "JetStream does not answer yet (no responders)", true
	case errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return "the NATS connection is reconnecting", true
	case errors.As(err, &api):
		switch api.ErrorCode {
		case 10008: // JSClusterNotAvailErr
			return "JetStream is temporarily unavailable, no meta leader yet", true
		case 10009, 10007: // JSClusterNotLeaderErr, JSClusterNotAssignedErr
			return "the JetStream cluster cannot handle the request yet, no leader", true
		case 10005, 10023: // JSClusterNoPeersErrF, JSInsufficientResourcesErr
			if nc.ConnectedClusterName() == "" {
				return "", false // one server, not a cluster: no more will join to place the replicas
			}
			return "not enough JetStream servers yet to place its replicas: " + api.Description, true
		case 10118, 10119, 10194, 10195: // stream or consumer offline
			return "offline: " + api.Description, true
		case 10202: // JSClusterServerMemberChangeInflightErr
			return "a cluster member change is in progress", true
		}
		if api.Code == 503 {
			return "unavailable: " + api.Description, true
		}
	}
	return "", false
}
