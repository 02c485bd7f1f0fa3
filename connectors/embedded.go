package connectors

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig describes an in-process NATS server.
type EmbeddedConfig struct {
	Host      string // listen address, e.g. 127.0.0.1
	Port      int    // -1 picks a free port
	JetStream bool
	StoreDir  string // JetStream storage; required with JetStream
	// MonitorPort, when set, serves the NATS monitoring endpoints over HTTP
	// on Host (-1 picks a free port).
	MonitorPort int
}

// StartEmbedded starts an in-process NATS server and waits until it takes
// connections. The caller shuts it down (Shutdown, then WaitForShutdown).
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.JetStream && cfg.StoreDir == "" {
		return nil, fmt.Errorf("%w: JetStream needs a store directory", ErrConfig)
	}
	opts := &server.Options{
		ServerName: "fetchstream-embedded",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  cfg.JetStream,
		StoreDir:   cfg.StoreDir,
		HTTPHost:   cfg.Host,
		HTTPPort:   cfg.MonitorPort,
		NoSigs:     true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server did not start on %s:%d (is the port taken?)", cfg.Host, cfg.Port)
	}
	return ns, nil
}
