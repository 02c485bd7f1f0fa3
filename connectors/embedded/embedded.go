// Package embedded runs nats-server inside the process: what `fetchstream
// run` starts when it is given no server to join, and what tests start
// through natstest. It is the one package of fetchstream's libraries that
// links nats-server; connectors, stages and the client do not.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrConfig is wrapped by Start's errors about its Config.
var ErrConfig = errors.New("invalid embedded server configuration")

// ErrPortInUse is wrapped by Start's error when its address cannot be
// listened on (another server has the port): told at once, before the
// server starts.
var ErrPortInUse = errors.New("address in use")

// ErrStoreInUse is wrapped by Start's error when another embedded server,
// in this process or another, already keeps its JetStream in StoreDir: two
// servers writing one store would corrupt it.
var ErrStoreInUse = errors.New("JetStream store directory in use")

// Config describes an in-process NATS server.
type Config struct {
	Host      string // listen address, e.g. 127.0.0.1
	Port      int    // -1 picks a free port
	JetStream bool
	StoreDir  string // JetStream storage; required with JetStream
}

// Server is a running embedded nats-server. It holds a lock on its store
// directory until Shutdown returns.
type Server struct {
	*server.Server
	unlock   func()
	shutdown sync.Once
}

// Start starts an in-process NATS server and waits until it takes
// connections. The caller shuts it down with Shutdown.
func Start(cfg Config) (*Server, error) {
	if cfg.JetStream && cfg.StoreDir == "" {
		return nil, fmt.Errorf("%w: JetStream needs a store directory", ErrConfig)
	}
	unlock := func() {}
	if cfg.JetStream {
		var err error
		if unlock, err = lockStore(cfg.StoreDir); err != nil {
			return nil, err
		}
	}
	if err := checkListen(cfg.Host, cfg.Port); err != nil {
		unlock()
		return nil, err
	}
	opts := &server.Options{
		ServerName: "fetchstream-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  cfg.JetStream,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock()
		return nil, fmt.Errorf("embedded NATS server did not start on %s within 10s", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	}
	return &Server{Server: ns, unlock: unlock}, nil
}

// Shutdown stops the server, waits until it has stopped and releases its
// store directory. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.Server.Shutdown()
		s.Server.WaitForShutdown()
		s.unlock()
	})
}

// checkListen tells at once that host:port cannot be listened on, which
// nats-server would say only in its log, leaving Start to wait for a
// server that never takes connections. Port -1 (any free port) and 0
// are not checked. The port is free again when it returns: another
// process may still take it before the server does (then Start fails
// after its wait, as before).
func checkListen(host string, port int) error {
	if port <= 0 {
		return nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: cannot listen on %s: %w", ErrPortInUse, addr, err)
	}
	return l.Close()
}
