package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// publishOut runs publish with args on url, bounded by ctx, and returns
// its exit code, stdout and stderr; it fails the test if publish did not
// end by itself.
func publishOut(t *testing.T, ctx context.Context, url string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	code := Main(ctx, append([]string{"publish", "--nats-url", url}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// A typo in --in fails at once, naming the subject the services read;
// without --wait the batch is published and a warning says that nothing
// will fetch it.
func TestPublishToASubjectNoServiceReads(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	startService(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code, stdout, stderr := publishOut(t, ctx, url, "--wait", "--in", "fetch.urlz", "http://127.0.0.1:1/")
	if ctx.Err() != nil || code != exitError || stdout != "" || !strings.Contains(stderr, "nothing reads --in fetch.urlz") ||
		!strings.Contains(stderr, "the services read fetch.urls: publish with --in fetch.urls") {
		t.Errorf("--wait: exit %d, stdout %q (want no table header), stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = publishOut(t, ctx, url, "--in", "fetch.urlz", "http://127.0.0.1:1/")
	if code != exitOK || !strings.HasPrefix(stdout, "published batch ") || !strings.Contains(stdout, " (1 URL) on fetch.urlz") ||
		!strings.HasPrefix(stderr, "fetchstream publish: warning: no fetchstream service answers for --in fetch.urlz and no stream stores it") {
		t.Errorf("without --wait: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = publishOut(t, ctx, url, "http://127.0.0.1:1/")
	if code != exitOK || stderr != "" {
		t.Errorf("with a service: exit %d, stderr %q; want no warning", code, stderr)
	}
}

// A service whose --reply-subjects refuse publish's inbox refuses the
// batch on the batches subject alone: publish --wait sees it there and
// reports the refusal at once (exit 2), not at --wait-timeout.
func TestPublishWaitSeesTheRefusalOfItsInbox(t *testing.T) {
	ns, _ := natstest.Start(t)
	url := ns.ClientURL()
	startService(t, url, "--reply-subjects", "replies.>")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code, stdout, _ := publishOut(t, ctx, url, "--wait", "--id", "refused", "http://127.0.0.1:1/")
	if ctx.Err() != nil || code != exitFailures || !strings.Contains(stdout, "batch refused rejected: invalid_batch: the reply subject \"_INBOX.") ||
		!strings.Contains(stdout, "--reply-subjects") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

// A batch a stream holds with no service consuming it is told of once,
// and waited for; while nothing comes publish says on stderr what it
// waits for (a service that took the batch and its AckWait, the time
// left); Ctrl-C says the wait was interrupted and the batch goes on.
// --json keeps stdout to JSON lines.
func TestPublishWaitSaysWhatItWaitsFor(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "FETCH_URLS", Subjects: []string{wire.DefaultInSubject}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(t.Context(), jetstream.ConsumerConfig{Durable: "fetchstream", AckWait: 42 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- Main(ctx, []string{"publish", "--nats-url", url, "--wait", "--json", "--wait-timeout", "30s", "--id", "held", "http://127.0.0.1:1/"}, &stdout, &stderr)
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("stderr does not say %q:\n%s", what, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("warning: stream FETCH_URLS stores the batches of --in fetch.urls, but no service consumes it: they stay stored, and the next `fetchstream run --jetstream` fetches them (to drop them instead: `nats stream purge -f FETCH_URLS`, which drops every batch it holds); waiting up to --wait-timeout 30s")
	waitFor("batch held waits in stream FETCH_URLS for a service to take it; waiting, giving up in ")
	// A service takes the batch, and dies holding it.
	if _, err := cons.Fetch(1); err != nil {
		t.Fatal(err)
	}
	waitFor("a service took batch held from stream FETCH_URLS and has not answered since: it is being fetched, or, if that service stopped, JetStream delivers it again within the consumer's AckWait (42s)")
	interrupt()
	select {
	case code := <-exited:
		if code != exitError || !strings.Contains(stderr.String(), "fetchstream: wait interrupted: batch held goes on in the service") {
			t.Errorf("interrupted: exit %d, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("publish did not end when interrupted")
	}
	if strings.Count(stderr.String(), "warning:") != 1 {
		t.Errorf("the warning was not said once:\n%s", stderr.String())
	}
	if stdout.String() != "" {
		t.Errorf("--json wrote to stdout what is not a result: %q", stdout.String())
	}
}

// publish -h shows no default for --priority (unset is the service's, 0),
// and an unknown flag is pointed at the one meant.
func TestPublishHelpAndNearFlags(t *testing.T) {
	var stdout, stderr syncBuffer
	Main(t.Context(), []string{"publish", "-h"}, &stdout, &stderr)
	help := stdout.String()
	line := ""
	for l := range strings.Lines(help) {
		if strings.Contains(l, "-priority") {
			line = l
		}
	}
	if line == "" || strings.Contains(line, "-1") || !strings.Contains(line, "(default: the service's, 0)") {
		t.Errorf("-priority reads %q", line)
	}
	code, errText := runStderr(t, "publish", "--timeout", "5s", "http://127.0.0.1:1/")
	if code != exitError || errText != "fetchstream: no flag --timeout: did you mean --timeout-ms? (see fetchstream publish -h)\n" {
		t.Errorf("--timeout: exit %d, stderr %q", code, errText)
	}
}

// watch --json writes JSON lines alone on stdout: what watch says itself
// goes to stderr.
func TestWatchJSONIsJSONLines(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	startService(t, url)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() { exited <- Main(ctx, []string{"watch", "--nats-url", url, "--json"}, &stdout, &stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "watching") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := nc.Publish(wire.DefaultInSubject, []byte(target.URL("/text"))); err != nil {
		t.Fatal(err)
	}
	for strings.Count(stdout.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-exited
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout %q: want a result and a summary", stdout.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Errorf("stdout line %q is not a JSON object", l)
		}
	}
	if !strings.Contains(stderr.String(), "watching fetch.results and fetch.batches") {
		t.Errorf("stderr %q: want the banner there", stderr.String())
	}
}

// During a service's shutdown grace, which finishes the batches it took
// but takes no more, publish --wait says at once that nothing reads the
// subject, instead of waiting out --wait-timeout.
func TestPublishWaitDuringShutdownGrace(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	var flags runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.register(fs)
	if err := fs.Parse([]string{"--nats-url", url, "--allow-net", "127.0.0.0/8", "--shutdown-grace", "1m"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := flags.config()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	svc, err := service.New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	life := loadtest.Launch(t, svc.Run, logs)
	life.AwaitRunning(t, svc.Running())
	// A batch in progress holds the grace open for 5s.
	results := subscribe(t, nc, wire.DefaultResultsSubject)
	inProgress := target.URL("/delay/5000")
	if err := nc.Publish(wire.DefaultInSubject, []byte(inProgress)); err != nil {
		t.Fatal(err)
	}
	loadtest.WaitFor(t, 10*time.Second, "the batch in progress", func() bool { return target.InFlight() == 1 })
	life.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	told := false
	for attempt := 0; attempt < 50 && !told; attempt++ { // until the service has let go of the subject
		_, _, stderr := publishOut(t, ctx, url, "--wait", "--wait-timeout", "0", "http://127.0.0.1:1/")
		told = strings.Contains(stderr, "nothing reads --in fetch.urls")
		time.Sleep(50 * time.Millisecond)
	}
	if !told {
		t.Fatal("publish --wait never said that nothing reads the subject during the grace")
	}
	select {
	case err := <-life.Exited:
		t.Fatalf("the service ended its grace (%v) before publish was told: the test proves nothing", err)
	default:
	}
	// A probe that reached the service before it let go of the subject
	// was fetched too (refused at port 1): its result comes first.
	var r wire.Result
	for probes := 0; probes < 50; probes++ {
		results.next(&r, 20*time.Second)
		if r.URL == inProgress {
			break
		}
	}
	if r.URL != inProgress || r.Status != 200 {
		t.Errorf("the batch in progress during the grace: %+v, want it fetched", r)
	}
}

// A batch that left the work-queue stream while its summary never came to
// publish --wait (it passed while the client was reconnecting, say) ends
// the wait at the next silent check, saying where its end went, instead
// of "waits in stream" until --wait-timeout.
func TestPublishWaitEndsWhenTheBatchLeftTheStream(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "FETCH_URLS", Subjects: []string{wire.DefaultInSubject},
		Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(t.Context(), jetstream.ConsumerConfig{Durable: "fetchstream"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- Main(ctx, []string{"publish", "--nats-url", url, "--wait", "--wait-timeout", "5m", "--id", "missed", "http://127.0.0.1:1/"}, &stdout, &stderr)
	}()
	// A service takes the batch and ends it; its summary goes nowhere
	// this publish hears.
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg, ok := <-msgs.Messages()
	if !ok {
		t.Fatalf("the batch did not reach the stream: %v", msgs.Error())
	}
	if err := msg.DoubleAck(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		out := stderr.String()
		if code != exitError || !strings.Contains(out, "fetchstream: batch left the stream without its end reaching this wait: batch missed has left stream FETCH_URLS") ||
			!strings.Contains(out, "fetchstream watch") || strings.Contains(out, "fetchstream client:") || strings.Contains(out, "waits in stream") {
			t.Errorf("exit %d, stderr:\n%s", code, out)
		}
		if stdout.String() != "" {
			t.Errorf("stdout %q, want nothing (no result came)", stdout.String())
		}
	case <-ctx.Done():
		t.Fatalf("publish --wait went on for a batch the stream no longer holds; stderr:\n%s", stderr.String())
	}
}
