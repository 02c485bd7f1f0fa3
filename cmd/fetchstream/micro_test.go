package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/fetchstream/fetchstream/stages/fetchtest"
	"github.com/fetchstream/fetchstream/wire"
)

// The service registers as a NATS micro service (what `nats micro info`
// and `stats` read) with a working request-reply fetch endpoint.
func TestMicroServiceDiscoveryAndFetchEndpoint(t *testing.T) {
	url, nc := startNATS(t)
	target := fetchtest.NewTarget(t)
	startService(t, url, "--micro-subject", "svc.fetch")

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

func TestBadFlagsAreClearErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--concurrency", "many"},
		{"--timeout", "-1s"},
		{"--max-timeout", "1s", "--timeout", "5s"},
		{"--allow-net", "10.0.0.0/33"},
		{"--max-body", "lots"},
		{"--out", "fetch.*"},
		{"--in", "a..b"},
		{"--log-level", "loud"},
		{"--listen", "nowhere"},
	} {
		var stderr syncBuffer
		code := Main(t.Context(), append([]string{"run", "--nats-url", "nats://127.0.0.1:1"}, args...), &syncBuffer{}, &stderr)
		if code != exitError || stderr.String() == "" {
			t.Errorf("run %v: exit %d, stderr %q; want exit 1 with a message", args, code, stderr.String())
		}
	}
}
