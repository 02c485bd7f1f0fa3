package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// The fetchstream binary, built once for the package's tests.
var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// fetchstreamBinary builds cmd/fetchstream once and returns its path.
func fetchstreamBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "fetchstream-bin-"); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "fetchstream")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// proc is a `fetchstream run` process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	code   int
}

// startProc runs `fetchstream run` against natsURL with loopback targets
// allowed and JSON logs, waits until it is consuming, and kills it when
// the test ends if it is still running.
func startProc(t *testing.T, name, natsURL string, args ...string) *proc {
	t.Helper()
	p := launchProc(t, name, natsURL, args...)
	p.waitLog("fetchstream running", 20*time.Second)
	return p
}

// launchProc is startProc without the wait.
func launchProc(t *testing.T, name, natsURL string, args ...string) *proc {
	t.Helper()
	argv := append([]string{"run", "--nats-url", natsURL, "--allow-net", "127.0.0.0/8", "--log-format", "json"}, args...)
	cmd := exec.Command(fetchstreamBinary(t), argv...)
	p := &proc{t: t, name: name, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			p.code = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.logs)
		}
	})
	return p
}

// waitLog waits until the process has logged text.
func (p *proc) waitLog(text string, timeout time.Duration) {
	p.t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(p.logs.String(), text); time.Sleep(10 * time.Millisecond) {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited with %d before logging %q; logs:\n%s", p.name, p.code, text, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s; logs:\n%s", p.name, text, timeout, p.logs)
		}
	}
}

// kill9 kills the process at once, as kill -9 does.
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
}

// stop sends sig and returns the exit code, failing after timeout.
func (p *proc) stop(sig os.Signal, timeout time.Duration) int {
	p.t.Helper()
	p.signal(sig)
	return p.wait(timeout)
}

// signal sends sig to the running process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait returns the exit code, failing if the process runs past timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s; logs:\n%s", p.name, timeout, p.logs)
	}
	return -1
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// batchesDone counts the batches the process logged as done.
func (p *proc) batchesDone() int { return strings.Count(p.logs.String(), `"msg":"batch done"`) }

// key names one URL of one batch: what a consumer dedupes on.
type key struct {
	batch string
	index int
}

// collector counts the results (and summaries) seen on core subjects.
type collector struct {
	mu        sync.Mutex
	results   map[key]int
	kinds     map[key]wire.ErrorKind
	total     int
	summaries map[string]int
}

func collect(t *testing.T, nc *nats.Conn) *collector {
	t.Helper()
	c := &collector{results: map[key]int{}, kinds: map[key]wire.ErrorKind{}, summaries: map[string]int{}}
	for subject, handle := range map[string]nats.MsgHandler{
		wire.DefaultResultsSubject: func(m *nats.Msg) {
			var r wire.Result
			if json.Unmarshal(m.Data, &r) != nil {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			k := key{r.BatchID, r.Index}
			c.results[k]++
			c.kinds[k] = r.Error
			c.total++
		},
		wire.DefaultBatchesSubject: func(m *nats.Msg) {
			var s wire.Summary
			if json.Unmarshal(m.Data, &s) != nil {
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.summaries[s.BatchID]++
		},
	} {
		sub, err := nc.Subscribe(subject, handle)
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// counts returns distinct results, all results, and distinct summaries.
func (c *collector) counts() (unique, total, summaries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.results), c.total, len(c.summaries)
}

func (c *collector) kind(k key) (wire.ErrorKind, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kinds[k], c.results[k]
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
	}
}

// load is a set of batches to publish: ids b0..bN-1, each with the given URLs.
type load struct {
	batches int
	urls    func(batch int) []string
}

func (l load) batch(i int) wire.Batch {
	return wire.Batch{ID: fmt.Sprintf("b%d", i), URLs: wire.URLs(l.urls(i)...)}
}

func (l load) size() (n int) {
	for i := range l.batches {
		n += len(l.urls(i))
	}
	return n
}

// publishJS publishes batches [from, to) into the input stream, each with
// its id as Nats-Msg-Id, retrying (through a server restart) until the
// stream has acked it: a client that cannot lose a batch does this.
func publishJS(t *testing.T, js jetstream.JetStream, l load, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		b := l.batch(i)
		data, _ := json.Marshal(b)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := js.Publish(ctx, wire.DefaultInSubject, data, jetstream.WithMsgID(b.ID))
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", b.ID, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// publishCore publishes batches [from, to) on the input subject.
func publishCore(t *testing.T, nc *nats.Conn, l load, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		data, _ := json.Marshal(l.batch(i))
		if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
			t.Fatalf("publish b%d: %v", i, err)
		}
	}
}

// consumerState reads the durable consumer's counts.
func consumerState(t *testing.T, js jetstream.JetStream) (ackPending int, pending uint64) {
	t.Helper()
	info := consumerInfo(t, js)
	return info.NumAckPending, info.NumPending
}

// consumerInfo reads the service's durable consumer as the server sees it.
func consumerInfo(t *testing.T, js jetstream.JetStream) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, "FETCH_URLS", "fetchstream")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// createOutputStream makes a stream over the results and batches
// subjects, as a user who must not lose a result would.
func createOutputStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RESULTS", Storage: jetstream.FileStorage,
		Subjects: []string{wire.DefaultResultsSubject, wire.DefaultBatchesSubject}}); err != nil {
		t.Fatal(err)
	}
}

// storedResults reads the RESULTS stream: distinct (batch, index) results
// and how many result messages it holds.
func storedResults(t *testing.T, js jetstream.JetStream) (unique map[key]bool, stored int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "RESULTS")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{wire.DefaultResultsSubject}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unique = map[key]bool{}
	for left := int(info.NumPending); left > 0; {
		batch, err := cons.Fetch(min(left, 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var r wire.Result
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatal(err)
			}
			unique[key{r.BatchID, r.Index}] = true
			stored++
			left--
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return unique, stored
}
