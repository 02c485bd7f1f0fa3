package service

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The service registers as a NATS micro service (what `nats micro info`
// and `stats` read) with a working request-reply fetch endpoint.
func TestMicroServiceDiscoveryAndFetchEndpoint(t *testing.T) {
	ns, nc := natstest.Start(t)
	url := ns.ClientURL()
	target := fetchtest.NewTarget(t)
	start(t, url, func(c *Config) { c.Subjects.Micro = "svc.fetch" })

	var info micro.Info
	microControl(t, nc, micro.InfoVerb, &info)
	if info.Name != "fetchstream" || len(info.Endpoints) != 1 || info.Endpoints[0].Subject != "svc.fetch" ||
		info.Endpoints[0].QueueGroup != "fetchstream" || info.Metadata["in"] != wire.DefaultInSubject {
		t.Errorf("info = %+v", info)
	}

	data, _ := json.Marshal([]string{target.URL("/text"), target.URL("/status/404")})
	reply, err := nc.Request("svc.fetch", data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil || len(results) != 2 || results[1].Status != 404 {
		t.Fatalf("fetch endpoint reply %s", reply.Data)
	}

	// micro counts a request once its handler returns, which may be just
	// after the reply it sent came back here.
	ep, custom := endpointStats(t, nc)
	for deadline := time.Now().Add(5 * time.Second); ep.NumRequests == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		ep, custom = endpointStats(t, nc)
	}
	if ep.NumRequests != 1 || custom.Batches != 1 || custom.Results != 2 || custom.Failed != 1 {
		t.Errorf("stats: %d requests, data %+v", ep.NumRequests, custom)
	}
}

// microControl asks the fetchstream micro service's control subject for
// verb (what `nats micro info|stats|ping fetchstream` asks) and decodes
// the answer into v, failing t if none comes within 5s or it is not v's
// JSON. It returns the answer as it came.
func microControl(t *testing.T, nc *nats.Conn, verb micro.Verb, v any) []byte {
	t.Helper()
	subject, err := micro.ControlSubject(verb, "fetchstream", "")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := nc.Request(subject, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg.Data, v); err != nil {
		t.Fatalf("%s answer %s: %v", verb, msg.Data, err)
	}
	return msg.Data
}

// endpointStats reads `nats micro stats fetchstream`: the stats of its
// one endpoint, and the service's data in them.
func endpointStats(t *testing.T, nc *nats.Conn) (micro.EndpointStats, microStats) {
	t.Helper()
	var stats micro.Stats
	microControl(t, nc, micro.StatsVerb, &stats)
	if len(stats.Endpoints) != 1 {
		t.Fatalf("stats %+v, want one endpoint", stats)
	}
	var custom microStats
	if err := json.Unmarshal(stats.Endpoints[0].Data, &custom); err != nil {
		t.Fatalf("stats data %s", stats.Endpoints[0].Data)
	}
	return *stats.Endpoints[0], custom
}
