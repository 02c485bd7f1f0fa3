// Package natstest starts real NATS servers for tests: an embedded
// nats-server on a free loopback port with JetStream in a temporary
// directory, shut down when the test ends. It is the one way every
// package's tests start a server (Start, or New where there is no
// testing.TB); Cluster starts several routed together.
package natstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/embedded"
)

// Start runs an embedded nats-server for t (port -1, JetStream in
// t.TempDir()) and returns it with a connection to it. Both are closed
// when t ends.
func Start(t testing.TB) (*embedded.Server, *nats.Conn) {
	t.Helper()
	ns := StartServer(t, t.TempDir())
	return ns, Connect(t, ns.ClientURL())
}

// StartServer runs an embedded nats-server with JetStream in storeDir,
// stopped when t ends. A test that restarts it should use
// StartRestartable instead.
func StartServer(t testing.TB, storeDir string) *embedded.Server {
	t.Helper()
	ns, err := New(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// New starts the server Start does (loopback, a free port), with
// JetStream in storeDir, or without JetStream when storeDir is "", for
// code that has no testing.TB: an Example, a TestMain. The caller shuts
// it down (Shutdown).
func New(storeDir string) (*embedded.Server, error) {
	return embedded.Start(embedded.Config{Host: "127.0.0.1", Port: -1, JetStream: storeDir != "", StoreDir: storeDir})
}

// StartWithOptions runs a nats-server built from opts (users and
// permissions, say) on a free loopback port, shut down when t ends, and
// returns its client URL. It sets opts' Host, Port, NoSigs and NoLog;
// JetStream, if opts asks for it, keeps its store in opts.StoreDir.
func StartWithOptions(t testing.TB, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// StartRestartable is StartServer on a port from UnusedFixedPort, for a
// test that will Restart it: a server that bound port 0 sits in the
// kernel's ephemeral range, where any other socket of a parallel test can
// take the port while the server is down.
func StartRestartable(t testing.TB, storeDir string) *embedded.Server {
	t.Helper()
	return StartServerOn(t, storeDir, UnusedFixedPort(t))
}

// UnusedFixedPort returns a loopback port that is free now and lies below
// the kernel's ephemeral range (20000-29999), so that no socket bound to
// port 0 can take it before the test binds it on purpose.
func UnusedFixedPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(10000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-29999")
	return 0
}

// Connect opens a client connection closed when t ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Restart shuts ns down and starts a new server on the same port with the
// same JetStream store directory, as a server restart does: clients
// reconnect to it, and streams and consumers are as they were left. The
// new server is stopped when t ends.
func Restart(t testing.TB, ns *embedded.Server, storeDir string) *embedded.Server {
	t.Helper()
	port := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	return StartServerOn(t, storeDir, port)
}

// StartServerOn is StartServer on a given port; it retries for a while if
// the port is not free yet (a server just shut down on it).
func StartServerOn(t testing.TB, storeDir string, port int) *embedded.Server {
	t.Helper()
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ns, err := embedded.Start(embedded.Config{
			Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir})
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(func() {
			ns.Shutdown()
		})
		return ns
	}
	t.Fatalf("restart NATS on port %d: %v", port, lastErr)
	return nil
}
