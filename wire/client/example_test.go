package client_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors/natstest"
	"github.com/fetchstream/fetchstream/wire"
	"github.com/fetchstream/fetchstream/wire/client"
)

// The seed's scenario: four URLs, of which one outlives its timeout and
// one is a 404, gathered in order. Per-URL failures are data: each result
// says what went wrong, and Gather's error is only for the batch itself.
func Example() {
	natsURL, target, stop := exampleSetup() // NATS, the service and a local target
	defer stop()

	nc, err := nats.Connect(natsURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := client.New(nc, client.WithTimeout(time.Second)) // per request
	if err != nil {
		log.Fatal(err)
	}
	urls := []string{target + "/text", target + "/delay/10", target + "/status/404", target + "/json"}
	g, err := c.Gather(context.Background(), urls)
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range g.Results {
		outcome := "ok"
		if !r.OK() {
			outcome = string(r.Error)
		}
		fmt.Printf("%d %-11s %3d %s\n", i, strings.TrimPrefix(r.URL, target), r.Status, outcome)
	}
	// Output:
	// 0 /text       200 ok
	// 1 /delay/10     0 timeout
	// 2 /status/404 404 http_error
	// 3 /json       200 ok
}

// exampleSetup starts an embedded NATS server, the service on it (see
// startService) and a local target, and returns how to stop them.
func exampleSetup() (natsURL, target string, stop func()) {
	ns, err := natstest.New("") // no JetStream
	if err != nil {
		log.Fatal(err)
	}
	natsURL = ns.ClientURL()
	stopService, err := startService(natsURL)
	if err != nil {
		log.Fatal(err)
	}
	target, stopTarget := startTarget()
	return natsURL, target, func() { stopService(); stopTarget(); ns.Shutdown() }
}

// Streaming a list split into batches of two: each result comes as soon
// as it and those before it are done, in the whole list's order, with its
// position in the list, whichever batch the service finishes first.
func ExampleStream_Results() {
	natsURL, target, stop := exampleSetup()
	defer stop()

	nc, err := nats.Connect(natsURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := client.New(nc, client.WithMaxBatch(2))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	urls := []string{target + "/delay/1", target + "/text", target + "/json", target + "/status/404", target + "/text"}
	s, err := c.Publish(ctx, wire.Batch{ID: "crawl", URLs: wire.URLs(urls...)})
	if err != nil {
		log.Fatal(err)
	}
	for r, err := range s.Results(ctx) {
		if err != nil {
			log.Fatal(err) // a *client.BatchError would name a rejected batch
		}
		fmt.Printf("%d %s #%d %s %d\n", r.Position, r.BatchID, r.Index, strings.TrimPrefix(r.URL, target), r.Status)
	}
	for _, sum := range s.Summaries() {
		fmt.Printf("%s: %d ok, %d failed\n", sum.BatchID, sum.OK, sum.Failed)
	}
	// Output:
	// 0 crawl-1 #0 /delay/1 200
	// 1 crawl-1 #1 /text 200
	// 2 crawl-2 #0 /json 200
	// 3 crawl-2 #1 /status/404 404
	// 4 crawl-3 #0 /text 200
	// crawl-1: 2 ok, 0 failed
	// crawl-2: 1 ok, 1 failed
	// crawl-3: 1 ok, 0 failed
}

// Requests as APIs want them: a JSON POST and a HEAD, with headers for
// every batch of the client, and a request the service refuses to send
// (a Host header) failing alone as invalid_request. A credential, named
// by "Credential", would add the service's secret headers for its hosts.
func ExampleWithRequestOptions() {
	natsURL, target, stop := exampleSetup()
	defer stop()

	nc, err := nats.Connect(natsURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := client.New(nc, client.WithRequestOptions(wire.RequestOptions{
		Headers: map[string]string{"Accept": "application/json"}, ResponseHeaders: []string{"Content-Type"}}))
	if err != nil {
		log.Fatal(err)
	}
	g, err := c.GatherBatch(context.Background(), wire.Batch{URLs: []wire.Request{
		{URL: target + "/echo", Method: "POST", Body: json.RawMessage(`{"q":"go"}`)},
		{URL: target + "/text", Method: "HEAD"},
		{URL: target + "/echo", Headers: map[string]string{"Host": "internal"}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range g.Results {
		line := fmt.Sprintf("%-4s %3d %-15s %-16s %s", cmp.Or(r.Method, "GET"), r.Status, cmp.Or(string(r.Error), "ok"), r.Headers["content-type"], r.Body)
		fmt.Println(strings.TrimSpace(line))
	}
	// Output:
	// POST 200 ok              application/json {"accept":"application/json","body":"{\"q\":\"go\"}","method":"POST"}
	// HEAD 200 ok              text/plain
	// GET    0 invalid_request
}
