// Package natstest starts real NATS servers for tests: an embedded
// nats-server on a free loopback port with JetStream in a temporary
// directory, shut down when the test ends.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors"
)

// Start runs an embedded nats-server for t (port -1, JetStream in
// t.TempDir()) and returns it with a connection to it. Both are closed
// when t ends.
func Start(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	ns := StartServer(t, t.TempDir())
	return ns, Connect(t, ns.ClientURL())
}

// StartServer runs an embedded nats-server with JetStream in storeDir,
// stopped when t ends. Start it again on the same storeDir and port to
// simulate a restart.
func StartServer(t testing.TB, storeDir string) *server.Server {
	t.Helper()
	ns, err := connectors.StartEmbedded(connectors.EmbeddedConfig{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
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
func Restart(t testing.TB, ns *server.Server, storeDir string) *server.Server {
	t.Helper()
	port := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	ns.WaitForShutdown()
	return StartServerOn(t, storeDir, port)
}

// StartServerOn is StartServer on a given port; it retries for a while if
// the port is not free yet (a server just shut down on it).
func StartServerOn(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ns, err := connectors.StartEmbedded(connectors.EmbeddedConfig{
			Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir})
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		})
		return ns
	}
	t.Fatalf("restart NATS on port %d: %v", port, lastErr)
	return nil
}
