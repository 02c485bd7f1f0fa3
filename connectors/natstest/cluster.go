package natstest

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is a NATS cluster of embedded servers for tests: each node has
// its client and route ports on loopback (fixed, below the ephemeral
// range, so a stopped node comes back on the same ones), routes to every
// other node, and JetStream in a directory of its own. Nodes are stopped
// when the test ends. Its methods are safe for concurrent use.
type Cluster struct {
	t    testing.TB
	Name string

	mu    sync.Mutex
	nodes []*clusterNode
}

type clusterNode struct {
	opts *server.Options
	srv  *server.Server // nil while stopped
}

// StartCluster starts a cluster of n nodes (n >= 1) and waits until
// JetStream has a meta leader that knows every node as online, so that a
// stream of up to n replicas created right after is placed.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := NewCluster(t, n)
	for i := range c.nodes {
		c.start(i)
	}
	c.WaitMetaLeader(30 * time.Second)
	c.waitFor(30*time.Second, fmt.Sprintf("meta leader that knows all %d nodes", n), func(s *server.Server) bool {
		return len(s.JetStreamClusterPeers()) == n
	})
	return c
}

// NewCluster is a cluster of n nodes (n >= 1) with their ports and stores
// chosen and none of them started: a test starts each with Start when it
// wants (a client may be started first, as in a compose start), and waits
// for nothing unless it asks (WaitMetaLeader).
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("NewCluster: want at least one node, got %d", n)
	}
	c := &Cluster{t: t, Name: "fetchstream-test"}
	routes := make([]*url.URL, n)
	clientPorts, routePorts := make([]int, n), make([]int, n)
	used := map[int]bool{}
	port := func() int { // one not given to another node already
		for {
			if p := UnusedFixedPort(t); !used[p] {
				used[p] = true
				return p
			}
		}
	}
	for i := range n {
		clientPorts[i], routePorts[i] = port(), port()
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[i])}
	}
	for i := range n {
		var others []*url.URL
		for j, r := range routes {
			if j != i {
				others = append(others, r)
			}
		}
		c.nodes = append(c.nodes, &clusterNode{opts: &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: c.Name, Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     others,
		}})
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	return c
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	node := c.nodes[i]
	c.mu.Unlock()
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		opts := *node.opts // a server keeps and changes its options
		srv, err := server.NewServer(&opts)
		if err != nil {
			lastErr = err
			continue
		}
		go srv.Start()
		if !srv.ReadyForConnections(5 * time.Second) {
			srv.Shutdown()
			srv.WaitForShutdown()
			lastErr = fmt.Errorf("not ready for connections on port %d", node.opts.Port)
			continue
		}
		c.mu.Lock()
		node.srv = srv
		c.mu.Unlock()
		return
	}
	c.t.Fatalf("cluster node %d: %v", i, lastErr)
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// URLs is the client URLs of every node, comma-separated, as nats.Connect
// takes them: a client reconnects to another node when one goes.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", node.opts.Port)
	}
	return strings.Join(urls, ",")
}

// Server returns node i's server, nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Stop shuts node i down (its clients are disconnected, its JetStream
// store stays) and waits until it has stopped. Stopping a stopped node
// does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Start starts node i, one NewCluster made or one stopped, on its ports
// and with its store, and returns once it takes client connections (not
// once JetStream has a leader). Call it from the test's goroutine.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.Restart(i)
}

// Restart starts stopped node i again on its ports and with its store, as
// a server restart does; it rejoins the cluster and catches up.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		c.t.Fatalf("cluster node %d is running", i)
	}
	c.start(i)
}

// Connect opens a client connection to every node, closed when the test
// ends; it reconnects for as long as the test runs.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	return Connect(t, c.URLs(), opts...)
}

// WaitMetaLeader waits until a running node is the JetStream meta leader.
func (c *Cluster) WaitMetaLeader(timeout time.Duration) {
	c.t.Helper()
	c.waitFor(timeout, "a JetStream meta leader", func(s *server.Server) bool { return s.JetStreamIsLeader() })
}

// StreamLeader returns the index of the running node that leads stream
// (in the default account), waiting up to timeout for one.
func (c *Cluster) StreamLeader(stream string, timeout time.Duration) int {
	c.t.Helper()
	return c.waitFor(timeout, "a leader of stream "+stream, func(s *server.Server) bool {
		return s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream)
	})
}

// ConsumerLeader returns the index of the running node that leads the
// consumer, waiting up to timeout for one.
func (c *Cluster) ConsumerLeader(stream, consumer string, timeout time.Duration) int {
	c.t.Helper()
	return c.waitFor(timeout, "a leader of consumer "+consumer, func(s *server.Server) bool {
		return s.JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream, consumer)
	})
}

// waitFor returns the first running node for which is holds, polling
// until timeout, then fails the test.
func (c *Cluster) waitFor(timeout time.Duration, what string, is func(*server.Server) bool) int {
	c.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for i := range c.nodes {
			if s := c.Server(i); s != nil && is(s) {
				return i
			}
		}
	}
	c.t.Fatalf("cluster %s: no %s within %s", c.Name, what, timeout)
	return -1
}
