package client_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

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
	natsURL, stopNATS, err := startNATS()
	if err != nil {
		log.Fatal(err)
	}
	stopService, err := startService(natsURL)
	if err != nil {
		log.Fatal(err)
	}
	target, stopTarget := startTarget()
	return natsURL, target, func() { stopService(); stopTarget(); stopNATS() }
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
	s, err := c.Publish(ctx, wire.Batch{ID: "crawl", URLs: urls})
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
