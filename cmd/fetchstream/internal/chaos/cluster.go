package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cluster is a NATS cluster of nats-server processes on loopback, each
// with fixed client, route and monitoring ports and a JetStream store of
// its own, so that a node killed with SIGKILL comes back as itself. Safe
// for concurrent use.
type cluster struct {
	bin   string
	nodes []*node
}

type node struct {
	name                   string
	port, routePort, mPort int
	args                   []string
	log                    string // its stdout and stderr, appended to over restarts

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// startCluster starts n nodes under dir and waits until every one says
// it is healthy (/healthz: JetStream has a meta leader and is current).
func startCluster(ctx context.Context, bin, dir string, n int) (*cluster, error) {
	c := &cluster{bin: bin}
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("n%d", i), port: ports[3*i], routePort: ports[3*i+1], mPort: ports[3*i+2]})
	}
	for i, nd := range c.nodes {
		var routes []string
		for j, other := range c.nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", other.routePort))
			}
		}
		store := filepath.Join(dir, nd.name)
		nd.log = filepath.Join(dir, nd.name+".log")
		nd.args = []string{"-n", nd.name, "-a", "127.0.0.1", "-p", fmt.Sprint(nd.port), "-m", fmt.Sprint(nd.mPort),
			"-js", "-sd", store, "--cluster_name", "chaos", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", nd.routePort),
			"--routes", strings.Join(routes, ",")}
		if err := c.start(i); err != nil {
			c.close()
			return nil, err
		}
	}
	if err := c.waitHealthy(ctx, time.Minute); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// urls is every node's client URL, comma-separated.
func (c *cluster) urls() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, nd.url())
	}
	return strings.Join(urls, ",")
}

func (nd *node) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", nd.port) }

// index is the node named name, or -1.
func (c *cluster) index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// start starts node i (stopped or never started).
func (c *cluster) start(i int) error {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		return fmt.Errorf("node %s is running", nd.name)
	}
	cmd, wait, err := startLogged("node "+nd.name, c.bin, nd.args, nd.log)
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		wait()
		close(exited)
	}()
	nd.cmd, nd.exited = cmd, exited
	return nil
}

// kill kills node i at once (SIGKILL) and waits until it is gone.
func (c *cluster) kill(i int) {
	nd := c.nodes[i]
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

func (c *cluster) running(i int) bool {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil
}

// waitHealthy waits until every running node's /healthz answers 200.
func (c *cluster) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		sick := ""
		for i, nd := range c.nodes {
			if c.running(i) && !healthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", nd.mPort)) {
				sick = nd.name
				break
			}
		}
		if sick == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not healthy within %s", sick, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// close kills every node.
func (c *cluster) close() {
	for i := range c.nodes {
		c.kill(i)
	}
}

// healthy says url answers 200.
func healthy(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePorts returns n distinct loopback ports, free a moment ago, below
// the ephemeral range (so that a node restarted on its ports does not
// find one taken by an outgoing connection).
func freePorts(n int) ([]int, error) {
	used := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("no %d free ports in 20000-29999", n)
		}
		p := 20000 + rand.IntN(10000)
		if used[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		used[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}
