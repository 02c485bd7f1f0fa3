//go:build unix

package main

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// The first signal cancels the context, the second closes the channel,
// which travels in a context.
func TestNotifyTwice(t *testing.T) {
	ctx, second := notifyShutdown(syscall.SIGUSR1)
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not cancel the context")
	}
	select {
	case <-second:
		t.Fatal("the channel closed on the first signal")
	default:
	}
	if err := self.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not close the channel")
	}
	if cutShort(withCutShort(context.Background(), second)) != second || cutShort(context.Background()) != nil {
		t.Error("the cut-short channel does not travel in the context")
	}
}
