package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/fetchstream/fetchstream/stages/fleet"
)

// FleetOff, as FetchConfig.Fleet, keeps each replica's politeness its own.
const FleetOff = "off"

// maxFleetName bounds Fetch.Fleet, which names a bucket.
const maxFleetName = 100

// fleetSetupTimeout bounds the creation of the fleet's bucket when the
// start-up leaves more time: a server without JetStream answers at once.
const fleetSetupTimeout = 10 * time.Second

// fleetName is the fleet this replica's politeness is shared with:
// Fetch.Fleet, or, when empty, one named after what the replicas consume
// together (the input subject and the queue group, or the durable).
func (c *Config) fleetName() string {
	if c.Fetch.Fleet != "" {
		return c.Fetch.Fleet
	}
	if c.JetStream.Enabled {
		return c.Subjects.In + "_" + c.JetStream.Durable
	}
	return c.Subjects.In + "_" + c.Core.Queue
}

// startFleet joins the fleet's shared politeness (see package
// stages/fleet), whose goroutines end with ctx; nil when it is off, or
// when the server cannot hold it (no JetStream): then the replica is
// polite on its own, and says so once.
func startFleet(ctx context.Context, setUpBy time.Time, nc *nats.Conn, cfg *Config, log *slog.Logger) *fleet.Fleet {
	if cfg.Fetch.Fleet == FleetOff {
		return nil
	}
	name, replica := cfg.fleetName(), replicaName()
	setup := min(time.Until(setUpBy), fleetSetupTimeout)
	js, err := jetstream.New(nc)
	var f *fleet.Fleet
	if err == nil {
		f, err = fleet.New(ctx, js, fleet.Config{Name: name, Replica: replica, Replicas: cfg.Storage.Replicas,
			MaxHostPause: cfg.Fetch.MaxHostPause, Log: log, SetupTimeout: max(setup, time.Second)})
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			log.Warn("politeness is per replica: the fleet's bucket is not available (JetStream?), so each replica keeps its own per-host pace, pauses and robots.txt",
				"fleet", name, "error", err)
		}
		return nil
	}
	log.Info("politeness is shared by the fleet", "fleet", name, "bucket", fleet.Bucket(name), "replica", replica)
	return f
}

// maxHostnameInName bounds the hostname in a replica's name, which the
// others keep 64 bytes of.
const maxHostnameInName = 40

// replicaName names this replica in the fleet (who saw a pause, its
// heartbeat): its hostname, process id and a nuid's last 6 characters,
// which differ between calls, so that replicas in one process or on one
// host differ too.
func replicaName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	if len(host) > maxHostnameInName {
		host = host[:maxHostnameInName]
	}
	id := nuid.Next()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), id[len(id)-6:])
}
