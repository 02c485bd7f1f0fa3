package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// These tests prove the delivery guarantees with real processes (the
// fetchstream binary, killed and signaled) against a real nats-server.

// delays is a loadtest.Load of batches of n URLs that each take 100-300 ms.
// bothModes are the two ways run takes batches, for the tests that check
// both: args is nil for core NATS.
var bothModes = []struct {
	name string
	args []string
}{
	{"core", nil},
	{"jetstream", []string{"--jetstream", "--ack-wait", "3s"}},
}

// kill -9 a JetStream worker in the middle of a loadtest.Load and start another:
// every (batch, index) gets a result. Duplicates reach core subscribers;
// the results stream the workers create (--results-stream) stores each
// result and each summary once (Nats-Msg-Id), and nothing else.
func TestKillNineMidLoadLosesNothingWithJetStream(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	js, _ := jetstream.New(nc)
	target := fetchtest.NewTarget(t)
	got := loadtest.Collect(t, nc)
	args := []string{"--jetstream", "--ack-wait", "3s", "--concurrency", "8", "--max-active", "4", "--results-stream", "RESULTS"}
	a := startProc(t, "worker A", url, args...)
	l := loadtest.Delays(target, 40, 10)
	loadtest.PublishJS(t, js, l, 0, l.Batches)

	loadtest.WaitFor(t, 60*time.Second, "a third of the results", func() bool { u, _, _ := got.Counts(); return u >= l.Size()/3 })
	held, _ := loadtest.ConsumerState(t, js)
	a.kill9()
	atKill, _, _ := got.Counts()
	killedAt := time.Now()
	b := startProc(t, "worker B", url, args...)

	loadtest.WaitFor(t, 90*time.Second, "a result for every URL and a summary for every batch", func() bool {
		u, _, s := got.Counts()
		return u == l.Size() && s == l.Batches
	})
	recovered := time.Since(killedAt)
	loadtest.WaitFor(t, 30*time.Second, "nothing left in the consumer", func() bool {
		ackPending, pending := loadtest.ConsumerState(t, js)
		return ackPending == 0 && pending == 0
	})
	time.Sleep(300 * time.Millisecond) // late duplicates, if any
	unique, total, _ := got.Counts()
	stored, storedCount := loadtest.StoredResults(t, js)
	t.Logf("kill -9 under JetStream loadtest.Load: URLs published %d, results %d (distinct %d), lost %d, duplicates %d on the core subject; "+
		"output stream holds %d results (%d distinct); worker A held %d batches at the kill, had published %d results; "+
		"worker B finished %d batches, everything done %.1fs after the kill",
		l.Size(), total, unique, l.Size()-unique, total-unique, storedCount, len(stored), held, atKill, b.batchesDone(), recovered.Seconds())
	if held == 0 {
		t.Error("worker A held no batch when it was killed: the test did not kill it mid-loadtest.Load")
	}
	if unique != l.Size() {
		t.Errorf("lost %d results", l.Size()-unique)
	}
	if len(stored) != l.Size() || storedCount != l.Size() {
		t.Errorf("output stream holds %d results, %d distinct; want each of the %d once", storedCount, len(stored), l.Size())
	}
	if n := streamMessages(t, js, "RESULTS"); n != uint64(l.Size()+l.Batches) {
		t.Errorf("results stream holds %d messages, want exactly %d results and %d summaries", n, l.Size(), l.Batches)
	}
}

func streamMessages(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// SIGTERM while a batch of slow URLs is in flight: all its results come
// out and the process exits 0; a batch published after the signal is not
// taken (in JetStream mode it waits in the stream for the next worker).
func TestSIGTERMFinishesBatchesInFlight(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			jetStream := mode.args != nil
			ns, nc := natstest.Start(t)
			url := ns.ClientURL()
			js, _ := jetstream.New(nc)
			target := fetchtest.NewTarget(t)
			got := loadtest.Collect(t, nc)
			w := startProc(t, "worker", url, mode.args...)
			l := loadtest.Same(target, 2, 5, "/gate/release") // held until the test opens it
			publish := func(i int) {
				if jetStream {
					loadtest.PublishJS(t, js, l, i, i+1)
				} else {
					loadtest.PublishCore(t, nc, l, i, i+1)
				}
			}
			publish(0)
			loadtest.WaitFor(t, 10*time.Second, "the batch's five requests in flight", func() bool { return target.InFlight() == 5 })
			w.signal(syscall.SIGTERM)
			w.waitLog("shutting down", 5*time.Second)
			loadtest.WaitFor(t, 10*time.Second, "the worker's intake to stop at the server", func() bool {
				if jetStream { // no pull request waiting for a batch
					return loadtest.ConsumerInfo(t, js).NumWaiting == 0
				}
				return !ns.GlobalAccount().SubscriptionInterest(wire.DefaultInSubject)
			})
			publish(1)
			target.Open("release")
			code := w.wait(20 * time.Second)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			// Published before the exit; give the test's own subscription
			// time to receive them.
			loadtest.WaitFor(t, 10*time.Second, "b0's five results and its summary", func() bool {
				u, _, s := got.Counts()
				return u == 5 && s == 1
			})
			time.Sleep(200 * time.Millisecond) // duplicates, if any
			for i := range 5 {
				if kind, n := got.Kind(loadtest.Key{Batch: "b0", Index: i}); n != 1 || kind != "" {
					t.Errorf("b0[%d]: %d results, error %q; want one success", i, n, kind)
				}
			}
			if _, n := got.Kind(loadtest.Key{Batch: "b1", Index: 0}); n != 0 {
				t.Error("the worker took a batch published after SIGTERM")
			}
			w.waitLog("shutdown complete", time.Second)
			if !jetStream {
				return
			}
			loadtest.WaitFor(t, 5*time.Second, "only b1 left in the consumer (b0 acked)", func() bool {
				ackPending, pending := loadtest.ConsumerState(t, js)
				return ackPending+int(pending) == 1
			})
			startProc(t, "next worker", url, mode.args...)
			loadtest.WaitFor(t, 20*time.Second, "b1 done by the next worker", func() bool { _, _, s := got.Counts(); return s == 2 })
		})
	}
}

// Past --shutdown-grace, or at a second SIGTERM during it, the process
// exits 1 and says what it cut short: core mode publishes the unfinished
// URLs as canceled; JetStream mode publishes nothing for them and hands
// the batch back, and the next worker does it.
func TestShutdownGraceRunsOut(t *testing.T) {
	modes := []struct {
		name   string
		args   []string
		says   string
		second bool // a second SIGTERM ends an hour's grace
	}{
		{"core", []string{"--shutdown-grace", "500ms"}, "shutdown grace of 500ms ran out: unfinished URLs were published as canceled", false},
		{"jetstream", []string{"--shutdown-grace", "500ms", "--jetstream", "--ack-wait", "3s"},
			"shutdown grace of 500ms ran out: unfinished batches left unacked for redelivery: 1", false},
		{"core, second signal", []string{"--shutdown-grace", "1h"}, "shutdown cut short: unfinished URLs were published as canceled", true},
		{"jetstream, second signal", []string{"--shutdown-grace", "1h", "--jetstream", "--ack-wait", "3s"},
			"shutdown cut short: unfinished batches left unacked for redelivery: 1", true},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			jetStream := strings.HasPrefix(mode.name, "jetstream")
			ns, nc := natstest.Start(t)
			url := ns.ClientURL()
			js, _ := jetstream.New(nc)
			target := fetchtest.NewTarget(t)
			got := loadtest.Collect(t, nc)
			w := startProc(t, "worker", url, mode.args...)
			l := loadtest.Same(target, 1, 3, "/delay/3000")
			if jetStream {
				loadtest.PublishJS(t, js, l, 0, 1)
			} else {
				loadtest.PublishCore(t, nc, l, 0, 1)
			}
			loadtest.WaitFor(t, 10*time.Second, "three requests in flight", func() bool { return target.InFlight() == 3 })
			if mode.second {
				w.signal(syscall.SIGTERM)
				w.waitLog("shutting down", 5*time.Second)
			}
			// Within 10s, while the requests take 3s: a second signal must
			// not wait for them.
			if code := w.stop(syscall.SIGTERM, 10*time.Second); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			w.waitLog(mode.says, time.Second)
			if !jetStream {
				loadtest.WaitFor(t, 5*time.Second, "three canceled results and a summary", func() bool {
					u, _, s := got.Counts()
					return u == 3 && s == 1
				})
				for i := range 3 {
					if kind, _ := got.Kind(loadtest.Key{Batch: "b0", Index: i}); kind != wire.ErrCanceled {
						t.Errorf("b0[%d] error %q, want canceled", i, kind)
					}
				}
				return
			}
			time.Sleep(300 * time.Millisecond) // anything published before the exit has arrived
			if _, total, s := got.Counts(); total != 0 || s != 0 {
				t.Errorf("%d results and %d summaries published for a batch handed back; want none", total, s)
			}
			startProc(t, "next worker", url, mode.args...)
			// Results and summaries come through two subscriptions, each
			// handled on its own goroutine: the summary may be seen first.
			loadtest.WaitFor(t, 20*time.Second, "the batch done by the next worker", func() bool { u, _, s := got.Counts(); return u == 3 && s == 1 })
			for i := range 3 {
				if kind, n := got.Kind(loadtest.Key{Batch: "b0", Index: i}); kind != "" || n != 1 {
					t.Errorf("b0[%d]: %d results, error %q; want one success", i, n, kind)
				}
			}
		})
	}
}

// Restart the NATS server under loadtest.Load. The worker never exits and serves
// what comes after. JetStream mode loses nothing; core mode may lose what
// was on the wire (batches published while the worker was reconnecting,
// results in flight), and the test reports how much.
func TestNATSRestartUnderLoad(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			jetStream := mode.args != nil
			storeDir := t.TempDir()
			ns := natstest.StartRestartable(t, storeDir)
			url := ns.ClientURL()
			nc := natstest.Connect(t, url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
			js, _ := jetstream.New(nc)
			loadtest.CreateOutputStream(t, js)
			target := fetchtest.NewTarget(t)
			w := startProc(t, "worker", url, append([]string{"--concurrency", "8"}, mode.args...)...)
			l := loadtest.Delays(target, 30, 5)
			publish := func(from, to int) {
				if jetStream {
					loadtest.PublishJS(t, js, l, from, to)
				} else {
					loadtest.PublishCore(t, nc, l, from, to)
				}
			}

			publish(0, 10)
			loadtest.WaitFor(t, 20*time.Second, "work under way", func() bool { return target.Requests() >= 15 })
			natstest.Restart(t, ns, storeDir)
			publish(10, 20) // while the clients reconnect
			w.waitLog("NATS reconnected", 30*time.Second)
			loadtest.WaitFor(t, 10*time.Second, "the test client reconnected", nc.IsConnected)
			publish(20, 30)

			after := func(unique map[loadtest.Key]bool) bool { // every batch published after the worker came back
				for b := 20; b < 30; b++ {
					for i := range 5 {
						if !unique[loadtest.Key{Batch: fmt.Sprintf("b%d", b), Index: i}] {
							return false
						}
					}
				}
				return true
			}
			var unique map[loadtest.Key]bool
			var stored int
			loadtest.WaitFor(t, 90*time.Second, "results for the batches published after the restart", func() bool {
				unique, stored = loadtest.StoredResults(t, js)
				return after(unique) && (!jetStream || len(unique) == l.Size())
			})
			if jetStream {
				loadtest.WaitFor(t, 30*time.Second, "nothing left in the consumer", func() bool {
					ackPending, pending := loadtest.ConsumerState(t, js)
					return ackPending == 0 && pending == 0
				})
			} else {
				time.Sleep(2 * time.Second) // stragglers
			}
			unique, stored = loadtest.StoredResults(t, js)
			t.Logf("%s mode, NATS restarted under loadtest.Load: URLs published %d, results stored %d (distinct %d), lost %d, duplicates dropped by Nats-Msg-Id or stored %d",
				mode.name, l.Size(), stored, len(unique), l.Size()-len(unique), stored-len(unique))
			if !w.running() {
				t.Fatalf("the worker exited (code %d) because the server restarted", w.code)
			}
			if jetStream && len(unique) != l.Size() {
				t.Errorf("JetStream mode lost %d results across the restart", l.Size()-len(unique))
			}
			if stored != len(unique) {
				t.Errorf("the output stream holds %d results for %d distinct ones", stored, len(unique))
			}
		})
	}
}

// Two replicas on one durable consumer share the loadtest.Load; kill -9 one and the
// other finishes everything, including the batches the dead one held,
// which come back within the default AckWait (30s).
func TestReplicasShareLoadAndSurviveAKill(t *testing.T) {
	t.Parallel()
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	js, _ := jetstream.New(nc)
	target := fetchtest.NewTarget(t)
	got := loadtest.Collect(t, nc)
	args := []string{"--jetstream", "--concurrency", "4", "--max-active", "2"}
	a := startProc(t, "replica A", url, args...)
	b := startProc(t, "replica B", url, args...)
	l := loadtest.Same(target, 40, 4, "/delay/400")
	loadtest.PublishJS(t, js, l, 0, l.Batches)

	loadtest.WaitFor(t, 30*time.Second, "both replicas at work", func() bool { return a.batchesDone() >= 5 && b.batchesDone() >= 5 })
	held, _ := loadtest.ConsumerState(t, js)
	doneA := a.batchesDone()
	a.kill9()
	killedAt := time.Now()
	loadtest.WaitFor(t, 90*time.Second, "every batch done", func() bool {
		u, _, s := got.Counts()
		return u == l.Size() && s == l.Batches
	})
	recovered := time.Since(killedAt)
	time.Sleep(300 * time.Millisecond)
	unique, total, _ := got.Counts()
	t.Logf("two replicas, A killed: URLs published %d, results %d (distinct %d), lost %d, duplicates %d; "+
		"A did %d batches, B %d; %d batches were held at the kill; all done %.1fs after it",
		l.Size(), total, unique, l.Size()-unique, total-unique, doneA, b.batchesDone(), held, recovered.Seconds())
	if unique != l.Size() {
		t.Errorf("lost %d results", l.Size()-unique)
	}
	if recovered > 60*time.Second {
		t.Errorf("the killed replica's batches took %s to be redone; the default AckWait is 30s", recovered)
	}
}

// A service started before its NATS server waits for it rather than
// exiting (as in a compose start), then runs as usual in both modes.
func TestWaitsForNATSAtStartup(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			port := natstest.UnusedFixedPort(t)
			w := launchProc(t, "worker", fmt.Sprintf("nats://127.0.0.1:%d", port), mode.args...)
			w.waitLog("no NATS server answers yet", 20*time.Second)
			time.Sleep(500 * time.Millisecond) // a retry or two while nothing answers
			if !w.running() {
				t.Fatalf("the worker exited (code %d) while NATS was not up yet", w.code)
			}
			ns := natstest.StartServerOn(t, t.TempDir(), port)
			w.waitReady(30 * time.Second)
			nc := natstest.Connect(t, ns.ClientURL())
			target := fetchtest.NewTarget(t)
			c := loadtest.Collect(t, nc)
			l := loadtest.Same(target, 3, 4, "/status/200")
			if mode.args != nil {
				js, _ := jetstream.New(nc)
				loadtest.PublishJS(t, js, l, 0, 3)
			} else {
				loadtest.PublishCore(t, nc, l, 0, 3)
			}
			loadtest.WaitFor(t, 30*time.Second, "every result", func() bool {
				unique, _, summaries := c.Counts()
				return unique == l.Size() && summaries == 3
			})
		})
	}
}
