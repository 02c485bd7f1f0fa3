// Package shutdown turns a process's stop signals into what its commands
// act on: the first signal cancels a context (finish what is in flight,
// within the grace), the second closes a channel (cut the grace short),
// and after that the signals' default action (ending the process) is
// back. The channel travels in the context, so that Main's signature
// stays (ctx, args).
package shutdown

import (
	"context"
	"os"
	"os/signal"
)

// Notify returns a context canceled by the first of sigs, and a channel
// closed by the second; after that, the signals' default action is back.
// Neither ends otherwise: Notify is for the life of the process.
func Notify(sigs ...os.Signal) (context.Context, <-chan struct{}) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan struct{})
	go func() {
		<-ch
		cancel()
		<-ch
		close(second)
		signal.Reset(sigs...)
	}()
	return ctx, second
}

type cutShortKey struct{}

// WithCutShort gives commands the channel whose closing asks them to cut
// their shutdown short (a second signal).
func WithCutShort(ctx context.Context, cut <-chan struct{}) context.Context {
	return context.WithValue(ctx, cutShortKey{}, cut)
}

// CutShort is ctx's cut-short channel, nil when there is none.
func CutShort(ctx context.Context) <-chan struct{} {
	cut, _ := ctx.Value(cutShortKey{}).(<-chan struct{})
	return cut
}
