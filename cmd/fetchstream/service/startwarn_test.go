package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/embedded"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
)

// In core mode, a stream that captures the input subject (left by a
// JetStream run on the same server) is named in a warning at start: it
// keeps every batch and answers requests with its ack. Without one, no
// such warning.
func TestCoreModeWarnsOfAStreamOverItsInput(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	quiet := start(t, url, func(c *Config) { c.Subjects.In = "other.urls" })
	if strings.Contains(quiet.logs.String(), "captures the input subject") {
		t.Errorf("warned with no stream over the input:\n%s", quiet.logs)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LEFT_OVER", Subjects: []string{wire.DefaultInSubject}}); err != nil {
		t.Fatal(err)
	}
	s := start(t, url, nil)
	logs := s.logs.String()
	if !strings.Contains(logs, "captures the input subject") || !strings.Contains(logs, `"stream":"LEFT_OVER"`) ||
		!strings.Contains(logs, "--jetstream") || !strings.Contains(logs, "nats stream rm -f LEFT_OVER") ||
		!strings.Contains(logs, "a later `fetchstream run --jetstream` will fetch every batch it stores") ||
		!strings.Contains(logs, "`fetchstream publish --wait` gets them") {
		t.Errorf("no warning naming the stream LEFT_OVER, the --jetstream flag, that a later --jetstream run fetches what it stores and the command that deletes it:\n%s", logs)
	}
	if strings.Contains(logs, "--data-dir") {
		t.Errorf("the warning advises --data-dir, though the server is not the embedded one:\n%s", logs)
	}
}

// With the embedded server, the core-mode warning of a stream left by a
// --jetstream run on the same store also gives the way without the nats
// CLI: another --data-dir.
func TestCoreModeWarningOnTheEmbeddedServerNamesDataDir(t *testing.T) {
	dir := t.TempDir()
	embed := func(jetStream bool) func(*Config) {
		return func(c *Config) { c.NATS.Listen, c.NATS.DataDir, c.JetStream.Enabled = "127.0.0.1:-1", dir, jetStream }
	}
	first := start(t, "", embed(true)) // makes the input stream in dir
	first.stop()
	select {
	case <-first.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the --jetstream service did not stop")
	}
	logs := start(t, "", embed(false)).logs.String()
	if !strings.Contains(logs, "captures the input subject") || !strings.Contains(logs, "nats stream rm -f ") ||
		!strings.Contains(logs, "without the nats CLI, start with another --data-dir") {
		t.Errorf("the warning does not give another --data-dir:\n%s", logs)
	}
}

// A second embedded server on a store directory in use fails with advice
// that would work: another NATS.DataDir (the CLI's --data-dir), not
// another address.
func TestStoreInUseAdvisesAnotherDataDir(t *testing.T) {
	dir := t.TempDir()
	first := launch(t, testConfig("", func(c *Config) { c.NATS.Listen, c.NATS.DataDir = "127.0.0.1:-1", dir }))
	select {
	case <-first.Running():
	case err := <-first.exited:
		t.Fatalf("first service: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("first service not running")
	}
	second := launch(t, testConfig("", func(c *Config) { c.NATS.Listen, c.NATS.DataDir = "127.0.0.1:-1", dir }))
	select {
	case err := <-second.exited:
		if !errors.Is(err, embedded.ErrStoreInUse) || !strings.Contains(err.Error(), "set NATS.DataDir to another directory") {
			t.Errorf("second service: %v, want ErrStoreInUse advising another NATS.DataDir", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second service on the same store did not fail")
	}
}
