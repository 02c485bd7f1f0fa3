package composetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/wire"
)

// TestCompose brings up docker-compose.yml as `docker compose up` does
// (NATS, the demo target and fetchstream, on their own network), then:
// one replica returns a batch's results in order and refuses what is
// outside the network's subnet; three replicas share batches through the
// queue group; after a NATS restart the replicas serve again; and in
// JetStream mode, a replica killed and NATS restarted mid-load lose no
// URL. It takes the stack down with its volumes at the end. The cluster
// is TestComposeCluster.
func TestCompose(t *testing.T) {
	docker := requireDocker(t)
	root := moduleRoot(t)
	project := fmt.Sprintf("fscomposetest%08x", rand.Uint32())
	img := buildImages(t, docker, root, project)
	s := startStack(t, docker, root, project, img)
	s.waitReplicas(t, 1, wire.DefaultInSubject, time.Minute)
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort), nats.Name("fetchstream-composetest"),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := newCollector(t, nc)

	phases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"one replica: ordered results, healthy, policy open to the subnet only", func(t *testing.T) { oneReplica(t, s, nc, c) }},
		{"three replicas share the batches", func(t *testing.T) { threeReplicas(t, s, nc, c) }},
		{"after a NATS restart the replicas serve again", func(t *testing.T) { natsRestart(t, s, nc, c) }},
		{"JetStream: a replica killed and NATS restarted mid-load lose nothing", func(t *testing.T) { jetStreamFailover(t, s, img, nc) }},
	}
	for _, phase := range phases {
		if !t.Run(phase.name, phase.run) {
			return // the next phases build on this one
		}
	}
}

// TestComposeCluster brings up docker-compose.yml with
// docker-compose.cluster.yml, all at once as compose does: a fresh
// three-node NATS cluster and two replicas that start during its first
// election. No container restarts on the way up, and a NATS node killed
// mid-load loses nothing (see clusterFailover).
func TestComposeCluster(t *testing.T) {
	docker := requireDocker(t)
	root := moduleRoot(t)
	project := fmt.Sprintf("fscomposetest%08xc", rand.Uint32())
	img := buildImages(t, docker, root, project)
	clusterFailover(t, docker, root, project, img)
}

// targetURL is a URL of the demo target as the replicas resolve it on
// the compose network.
func targetURL(path string) string { return "http://target:8080" + path }

func oneReplica(t *testing.T, s *stack, nc *nats.Conn, c *collector) {
	s.waitHealthy(t, "target", 1, time.Minute)
	s.waitHealthy(t, "fetchstream", 1, time.Minute)
	b := wire.Batch{ID: "one-replica", URLs: wire.URLs(
		targetURL("/delay/1"), // the slowest first: its result still comes first
		targetURL("/status/404"),
		targetURL("/get"),
		// Loopback is outside the allowed subnet: refused before any dial.
		"http://127.0.0.1:8080/get",
	)}
	publish(t, nc, b)
	o := c.await(t, []wire.Batch{b}, time.Minute)[b.ID]
	checkOrdered(t, b, o)
	if t.Failed() {
		return
	}
	want := []struct {
		status int
		err    wire.ErrorKind
	}{{200, ""}, {404, wire.ErrHTTP}, {200, ""}, {0, wire.ErrBlocked}}
	for i, w := range want {
		if r := o.results[i]; r.Status != w.status || r.Error != w.err {
			t.Errorf("result %d (%s) = status %d error %q (%s), want status %d error %q", i, r.URL, r.Status, r.Error, r.Message, w.status, w.err)
		}
	}
}

func threeReplicas(t *testing.T, s *stack, nc *nats.Conn, c *collector) {
	s.scale(t, 3)
	before := deliveries(s.waitReplicas(t, 3, wire.DefaultInSubject, time.Minute), wire.DefaultInSubject)
	s.waitHealthy(t, "fetchstream", 3, time.Minute)
	// 45 batches shared at random by 3 replicas: one gets none with
	// probability 3·(2/3)^45, about 3e-8.
	var batches []wire.Batch
	for i := range 45 {
		b := wire.Batch{ID: fmt.Sprintf("shared-%02d", i), URLs: wire.URLs(
			targetURL("/delay/1"), targetURL("/status/503"), targetURL(fmt.Sprintf("/get?batch=%d", i)))}
		batches = append(batches, b)
		publish(t, nc, b)
	}
	got := c.await(t, batches, 2*time.Minute)
	for _, b := range batches {
		checkOrdered(t, b, got[b.ID])
	}
	after, err := s.replicas()
	if err != nil {
		t.Fatal(err)
	}
	var shares []int64
	var total int64
	for cid, n := range deliveries(after, wire.DefaultInSubject) {
		if old, known := before[cid]; known {
			shares = append(shares, n-old)
			total += n - old
		}
	}
	t.Logf("batches taken by each replica: %v", shares)
	if len(shares) != 3 || total != int64(len(batches)) {
		t.Fatalf("the 3 replicas took %v batches, want %d in all", shares, len(batches))
	}
	for _, n := range shares {
		if n == 0 {
			t.Errorf("a replica took no batch: %v", shares)
		}
	}
}

func natsRestart(t *testing.T, s *stack, nc *nats.Conn, c *collector) {
	s.must(t, "restart", "nats")
	s.waitReplicas(t, 3, wire.DefaultInSubject, time.Minute)
	waitConnected(t, nc, time.Minute)
	b := wire.Batch{ID: "after-restart", URLs: wire.URLs(targetURL("/status/200"), targetURL("/delay/1"), targetURL("/status/418"))}
	publish(t, nc, b)
	checkOrdered(t, b, c.await(t, []wire.Batch{b}, time.Minute)[b.ID])
}

// publish sends b on the input subject as a JSON object (core NATS).
func publish(t *testing.T, nc *nats.Conn, b wire.Batch) {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(wire.DefaultInSubject, data); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// waitConnected waits until nc is connected (again) and the server has
// its subscriptions.
func waitConnected(t *testing.T, nc *nats.Conn, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("the test's NATS client did not reconnect within %s (status %s)", timeout, nc.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := recipe.Run(context.Background(), time.Minute, nil, "", "go", "env", "GOMOD")
	if err != nil {
		t.Fatal(err)
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == "/dev/null" {
		t.Fatalf("not in a module (go env GOMOD = %q)", gomod)
	}
	return filepath.Dir(gomod)
}
