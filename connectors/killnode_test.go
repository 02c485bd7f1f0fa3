package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// nodeEnv, when set, makes the test binary run one NATS cluster node
// (procNode, as JSON) until it is killed, instead of the tests.
const nodeEnv = "FETCHSTREAM_TEST_NATS_NODE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(nodeEnv); spec != "" {
		runNode(spec)
		return
	}
	os.Exit(m.Run())
}

// procNode is a cluster node in a process of its own.
type procNode struct {
	Name, StoreDir, Cluster string
	Port, RoutePort         int
	Routes                  []string
}

func runNode(spec string) {
	var n procNode
	if err := json.Unmarshal([]byte(spec), &n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var routes []*url.URL
	for _, r := range n.Routes {
		u, _ := url.Parse(r)
		routes = append(routes, u)
	}
	srv, err := server.NewServer(&server.Options{ServerName: n.Name, Host: "127.0.0.1", Port: n.Port, JetStream: true,
		StoreDir: n.StoreDir, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: n.Cluster, Host: "127.0.0.1", Port: n.RoutePort}, Routes: routes})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv.Start()
	select {} // until killed
}

// procCluster is a NATS cluster whose nodes are processes, so that a
// node can be killed with SIGKILL: it steps down from nothing, as a
// crashed or kill -9ed server does (an in-process server's Shutdown hands
// its leaderships over first).
type procCluster struct {
	t     *testing.T
	nodes []procNode
	procs []*exec.Cmd
}

func startProcCluster(t *testing.T, n int) *procCluster {
	t.Helper()
	c := &procCluster{t: t, procs: make([]*exec.Cmd, n)}
	used := map[int]bool{}
	port := func() int {
		for {
			if p := natstest.UnusedFixedPort(t); !used[p] {
				used[p] = true
				return p
			}
		}
	}
	for i := range n {
		c.nodes = append(c.nodes, procNode{Name: fmt.Sprintf("n%d", i), StoreDir: t.TempDir(), Cluster: "killed",
			Port: port(), RoutePort: port()})
	}
	for i := range c.nodes {
		for j, o := range c.nodes {
			if j != i {
				c.nodes[i].Routes = append(c.nodes[i].Routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.RoutePort))
			}
		}
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.kill(i)
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	return c
}

func (c *procCluster) start(i int) {
	c.t.Helper()
	spec, _ := json.Marshal(c.nodes[i])
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
}

// kill sends SIGKILL to node i and waits for it to end.
func (c *procCluster) kill(i int) {
	if p := c.procs[i]; p != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
		c.procs[i] = nil
	}
}

func (c *procCluster) urls() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.Port)
	}
	return strings.Join(urls, ",")
}

// leader is the index of the node that leads stream, waiting for one.
func (c *procCluster) leader(js jetstream.JetStream, stream string, timeout time.Duration) int {
	c.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		if err != nil || s.CachedInfo().Cluster == nil {
			continue
		}
		for i, n := range c.nodes {
			if n.Name == s.CachedInfo().Cluster.Leader && c.procs[i] != nil {
				return i
			}
		}
	}
	c.t.Fatalf("no leader of stream %s within %s", stream, timeout)
	return -1
}

// Killing (SIGKILL) the node that leads the R3 results stream, three
// times under load, costs time and nothing else: every acked batch has
// every result once, in index order, its summary after them, and none is
// dead-lettered. The stream has no leader for seconds each time; the
// publisher holds and retries through it.
func TestResultsStreamLeaderKillsCostNoBatch(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	nc := natstest.Connect(t, c.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var setupErr error
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		setupErr = connectors.EnsureResultsStream(ctx, nc, connectors.ResultsStreamConfig{
			Name: "OUT", Subjects: []string{"res", "res.batches"}, Replicas: 3, Duplicates: 10 * time.Minute}, discardLog())
		cancel()
		if setupErr == nil {
			break
		}
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	dead := deadLetters(t, nc)
	setup := clusterSetup()
	setup.MaxDeliver = 5
	cfg := workerConfig{url: c.urls(), setup: setup, results: "res", resultsStream: "OUT"}
	startWorker(t, cfg)
	startWorker(t, cfg)

	stop := make(chan struct{})
	loaded := loadBatches(t, js, "k", 10, 100*time.Millisecond, stop)
	for kill := range 3 {
		time.Sleep(3 * time.Second)
		leader := c.leader(js, "OUT", 30*time.Second)
		c.kill(leader)
		killed := time.Now()
		next := c.leader(js, "OUT", 30*time.Second)
		t.Logf("kill %d: node %d led the results stream; node %d leads it %s later", kill+1, leader, next,
			time.Since(killed).Round(100*time.Millisecond))
		c.start(leader)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	sizes := loaded()
	settledAll(t, js, 120*time.Second)
	rep := checkOrder(t, js, "OUT", "res", sizes)
	t.Logf("%s; %d dead letters", rep, dead.Load())
	if !rep.Clean() || dead.Load() != 0 {
		t.Errorf("want every acked batch complete, once and in order, and no dead letter; got %s and %d dead letters", rep, dead.Load())
	}
}
