// Package chaos runs fetchstream the way nats-server's own chaos tests
// run a cluster: nats-server processes (so that a kill is a real
// SIGKILL) holding R3 input and results streams, fetchstream replicas as
// processes, a steady JetStream load of mixed URLs on a loopback target,
// and, under that load, the steps of a plan: SIGKILL of the node that
// leads the results stream, of the one that leads the input stream, of a
// node at random, of a replica, and a SIGSTOP of a replica past its
// AckWait, each undone after a while. Then it waits for the consumer to
// drain and checks every batch the input stream acknowledged against the
// results stream and the dead-letter subject (connectors/chaostest).
//
// The chaos test in this package runs a short plan; the soak command
// (cmd/fetchstream/internal/soak) runs a long random one. Run returns an
// error only when the harness cannot do its part (build, start, read);
// what the service did wrong is in the Outcome.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/chaostest"
	"github.com/fetchstream/fetchstream/wire"
)

// Names of what the replicas create and consume.
const (
	InputStream   = "FETCH_URLS"
	Durable       = "fetchstream"
	ResultsStream = "FETCH_RESULTS"
)

// Options describe a run. Zero values take the defaults in brackets.
type Options struct {
	Binaries
	Dir      string // where node stores and logs go (required)
	Nodes    int    // nats-server nodes [3]
	Replicas int    // fetchstream replicas [3]
	Rate     float64
	// MinURLs and MaxURLs bound a batch's URLs [10, 20].
	MinURLs, MaxURLs int
	Load             time.Duration // how long the load runs [1m]
	Steps            []Step        // in order of At
	AckWait          time.Duration // the replicas' --ack-wait [30s]
	Args             []string      // more flags for every replica; with --pprof, each replica's goroutines are written to Dir/<name>.goroutines.txt at the end
	Drain            time.Duration // bound on the wait for the consumer to empty after the load [2m]
	SampleEvery      time.Duration // how often replicas' RSS and goroutines are read [30s]
	Seed             uint64        // of the load's URLs and the random choices [the time]
	Logf             func(format string, args ...any)
}

// Sample is a replica's /metrics at one time.
type Sample struct {
	At         time.Duration // since the replicas were ready
	Replica    string
	RSS        float64 // process_resident_memory_bytes
	Goroutines float64 // go_goroutines
	Starts     int     // times it has been started so far
}

// Outcome is what a run found.
type Outcome struct {
	Report      chaostest.Report
	Published   int           // batches the loader published
	Unacked     int           // of those, never acknowledged by the input stream (not checked)
	Retried     int           // publishes acknowledged only after a retry
	SlowestAck  time.Duration // longest wait for a publish's acknowledgement, retries included
	DeadLetters int           // distinct messages seen on the dead-letter subject
	Drained     bool          // the consumer emptied within Options.Drain
	Pending     uint64        // batches left in the consumer undelivered when the drain ended
	AckPending  int           // and delivered but not acknowledged
	StoredMsgs  int           // messages the results stream held
	Events      []string      // what the harness did, with times
	Samples     []Sample
	Exits       []string       // replica exits nobody asked for, with the last error each logged
	Logged      map[string]int // the replicas' WARN and ERROR log lines, by message
	Elapsed     time.Duration
}

// Run builds nothing: it starts the cluster, the replicas and the load
// from o.Binaries, runs the plan, drains, checks, and stops everything it
// started before returning.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	o.defaults()
	h := &harness{o: o, out: &Outcome{}, began: time.Now(), rng: rand.New(rand.NewPCG(o.Seed, o.Seed>>1|1))}
	defer h.close()
	ctx, cancel := context.WithCancel(ctx) // ends the steps' goroutines before close waits for them
	defer cancel()
	defer func() { h.out.Elapsed = time.Since(h.began) }()
	if err := h.up(ctx); err != nil {
		return h.out, err
	}
	ready := time.Now()
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); h.sample(sctx, ready) }()
	defer func() { stopSampling(); <-sampled }()

	lctx, stopLoad := context.WithTimeout(ctx, o.Load)
	defer stopLoad()
	l := &loader{js: h.js, subject: wire.DefaultInSubject, prefix: fmt.Sprintf("chaos%d", o.Seed%100000),
		rng: rand.New(rand.NewPCG(o.Seed+1, o.Seed)), base: h.base, closed: h.closed, minURLs: o.MinURLs, maxURLs: o.MaxURLs}
	published := make(chan int, 1)
	go func() { published <- l.run(lctx, o.Rate) }()
	h.event("load started: %.0f batches/s of %d-%d URLs for %s", o.Rate, o.MinURLs, o.MaxURLs, o.Load)
	for _, st := range o.Steps {
		if err := sleep(ctx, time.Until(ready.Add(st.At))); err != nil {
			return h.out, err
		}
		h.do(ctx, st)
	}
	h.out.Published = <-published
	var acked []chaostest.Batch
	acked, h.out.Unacked, h.out.Retried, h.out.SlowestAck = l.result()
	h.event("load over: %d batches published, %d acknowledged, %d never acknowledged, %d acknowledged after a retry, slowest %s",
		h.out.Published, len(acked), h.out.Unacked, h.out.Retried, h.out.SlowestAck.Round(time.Millisecond))

	h.drain(ctx)
	time.Sleep(time.Second) // a settled batch's last publishes, if any
	rctx, readCancel := context.WithTimeout(ctx, 3*time.Minute)
	defer readCancel()
	stored, err := chaostest.ReadStream(rctx, h.js, ResultsStream, "", "")
	if err != nil {
		return h.out, err
	}
	h.out.StoredMsgs = stored.Messages
	h.out.DeadLetters = h.dead.Len()
	h.out.Report = chaostest.Check(acked, stored, h.dead)
	stopSampling()
	<-sampled
	h.wg.Wait() // a replica restarted by a step has become ready, or exited, or 2 minutes passed
	for _, r := range h.replicas {
		for _, e := range r.unexpectedExits() {
			h.out.Exits = append(h.out.Exits, r.name+": "+e)
		}
	}
	h.out.Logged = countLogged(h.replicas)
	for _, r := range h.replicas {
		r.dumpGoroutines(ctx, filepath.Join(h.o.Dir, r.name+".goroutines.txt"))
	}
	return h.out, nil
}

func (o *Options) defaults() {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&o.Nodes, 3)
	set(&o.Replicas, 3)
	set(&o.MinURLs, 10)
	set(&o.MaxURLs, 20)
	o.MaxURLs = max(o.MaxURLs, o.MinURLs)
	if o.Rate <= 0 {
		o.Rate = 10
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setD(&o.Load, time.Minute)
	setD(&o.AckWait, 30*time.Second)
	setD(&o.Drain, 2*time.Minute)
	setD(&o.SampleEvery, 30*time.Second)
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// harness holds what a run started.
type harness struct {
	o        Options
	out      *Outcome
	began    time.Time
	rng      *rand.Rand // used by the plan's goroutine only
	cl       *cluster
	nc       *nats.Conn
	js       jetstream.JetStream
	deadConn []*nats.Conn
	dead     *chaostest.DeadLetters
	stopTgt  context.CancelFunc
	base     string
	closed   string
	replicas []*replica
	mu       sync.Mutex     // guards out.Events and out.Samples
	wg       sync.WaitGroup // the goroutines steps leave behind
}

func (h *harness) event(format string, args ...any) {
	line := fmt.Sprintf("%6.1fs  ", time.Since(h.began).Seconds()) + fmt.Sprintf(format, args...)
	h.mu.Lock()
	h.out.Events = append(h.out.Events, line)
	h.mu.Unlock()
	h.o.Logf("%s", line)
}

// up starts the cluster, the dead-letter watch, the target and the
// replicas, and waits until every replica consumes.
func (h *harness) up(ctx context.Context) error {
	o := h.o
	var err error
	if h.cl, err = startCluster(ctx, o.NATSServer, o.Dir, o.Nodes); err != nil {
		return err
	}
	h.event("cluster of %d nats-server processes healthy at %s", o.Nodes, h.cl.urls())
	if h.nc, err = nats.Connect(h.cl.urls(), nats.Name("chaos"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond)); err != nil {
		return err
	}
	h.js, _ = jetstream.New(h.nc)
	// One dead-letter watcher per node, each bound to its node: while one
	// node is down the others still see every dead letter.
	h.dead = chaostest.NewDeadLetters()
	for _, nd := range h.cl.nodes {
		dnc, err := nats.Connect(nd.url(), nats.Name("chaos-dead"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			return err
		}
		h.deadConn = append(h.deadConn, dnc)
		if _, err := h.dead.Subscribe(dnc, wire.DefaultDeadLetterSubject); err != nil {
			return err
		}
	}
	tctx, cancel := context.WithCancel(context.Background())
	h.stopTgt = cancel
	if h.base, h.closed, err = startTarget(tctx); err != nil {
		return err
	}
	ports, err := freePorts(o.Replicas)
	if err != nil {
		return err
	}
	args := append([]string{"--nats-url", h.cl.urls(), "--jetstream", "--results-stream", ResultsStream,
		"--stream-replicas", fmt.Sprint(min(o.Nodes, 3)), "--allow-net", "127.0.0.0/8", "--ack-wait", o.AckWait.String()}, o.Args...)
	for i := range o.Replicas {
		name := fmt.Sprintf("r%d", i)
		h.replicas = append(h.replicas, newReplica(name, o.Fetchstream, filepath.Join(o.Dir, name+".log"),
			fmt.Sprintf("127.0.0.1:%d", ports[i]), args))
	}
	// The first creates the streams and the consumer; the others find them.
	for i, r := range h.replicas {
		if err := r.start(); err != nil {
			return err
		}
		if i == 0 || i == len(h.replicas)-1 {
			for _, r := range h.replicas[:i+1] {
				if err := r.waitReady(ctx, time.Minute); err != nil {
					return fmt.Errorf("%w; its last error: %s", err, lastError(r.log))
				}
			}
		}
	}
	h.event("%d fetchstream replicas ready (R%d streams %s and %s, --ack-wait %s)", o.Replicas, min(o.Nodes, 3),
		InputStream, ResultsStream, o.AckWait)
	return nil
}

// drain waits until the consumer has nothing pending or unacknowledged.
func (h *harness) drain(ctx context.Context) {
	began := time.Now()
	for deadline := began.Add(h.o.Drain); ; {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		cons, err := h.js.Consumer(c, InputStream, Durable)
		if err == nil {
			info := cons.CachedInfo()
			h.out.Pending, h.out.AckPending = info.NumPending, info.NumAckPending
			h.out.Drained = info.NumPending == 0 && info.NumAckPending == 0
		}
		cancel()
		if h.out.Drained {
			h.event("consumer drained in %s", time.Since(began).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			h.event("consumer not drained within %s: %d pending, %d unacknowledged", h.o.Drain, h.out.Pending, h.out.AckPending)
			return
		}
		_ = sleep(ctx, 500*time.Millisecond)
	}
}

// sample reads every replica's metrics every SampleEvery until ctx ends,
// and once more then.
func (h *harness) sample(ctx context.Context, since time.Time) {
	tick := time.NewTicker(h.o.SampleEvery)
	defer tick.Stop()
	for {
		at := time.Since(since)
		for _, r := range h.replicas {
			rss, g, err := r.metrics(context.Background())
			if err != nil {
				continue // down, or stopped
			}
			h.mu.Lock()
			h.out.Samples = append(h.out.Samples, Sample{At: at, Replica: r.name, RSS: rss, Goroutines: g, Starts: r.startCount()})
			h.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *harness) close() {
	h.wg.Wait()
	for _, r := range h.replicas {
		r.close()
	}
	if h.stopTgt != nil {
		h.stopTgt()
	}
	for _, c := range h.deadConn {
		c.Close()
	}
	if h.nc != nil {
		h.nc.Close()
	}
	if h.cl != nil {
		h.cl.close()
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Binaries are the two programs a run starts.
type Binaries struct {
	Fetchstream string // `fetchstream`, run as the replicas
	NATSServer  string // `nats-server`, run as the cluster's nodes
}

// Build compiles cmd/fetchstream and the nats-server that go.mod
// requires into dir (the go command must be on PATH and the working
// directory inside the module).
func Build(ctx context.Context, dir string) (Binaries, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"github.com/fetchstream/fetchstream/cmd/fetchstream", "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return Binaries{Fetchstream: filepath.Join(dir, "fetchstream"), NATSServer: filepath.Join(dir, "nats-server")}, nil
}

// startLogged starts bin with args as a child that dies with this
// process, its output appended to the file log. wait waits for it to exit
// and then closes the log; call it once.
func startLogged(name, bin string, args []string, log string) (cmd *exec.Cmd, wait func(), err error) {
	out, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd = exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return cmd, func() { _ = cmd.Wait(); out.Close() }, nil
}
