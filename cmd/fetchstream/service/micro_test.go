package service

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/loadtest"
	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The service registers as a NATS micro service (what `nats micro info`
// and `stats` read) with a working request-reply fetch endpoint.
func TestMicroServiceDiscoveryAndFetchEndpoint(t *testing.T) {
	url, nc := loadtest.StartNATS(t)
	target := fetchtest.NewTarget(t)
	start(t, url, func(c *Config) { c.Subjects.Micro = "svc.fetch" })

	subject, err := micro.ControlSubject(micro.InfoVerb, "fetchstream", "")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := nc.Request(subject, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		t.Fatal(err)
	}
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

	subject, _ = micro.ControlSubject(micro.StatsVerb, "fetchstream", "")
	if msg, err = nc.Request(subject, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var stats micro.Stats
	if err := json.Unmarshal(msg.Data, &stats); err != nil || len(stats.Endpoints) != 1 {
		t.Fatalf("stats %s", msg.Data)
	}
	var custom microStats
	if err := json.Unmarshal(stats.Endpoints[0].Data, &custom); err != nil {
		t.Fatalf("stats data %s", stats.Endpoints[0].Data)
	}
	if stats.Endpoints[0].NumRequests != 1 || custom.Batches != 1 || custom.Results != 2 || custom.Failed != 1 {
		t.Errorf("stats: %d requests, data %+v", stats.Endpoints[0].NumRequests, custom)
	}
}
