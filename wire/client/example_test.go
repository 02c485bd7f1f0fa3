package client_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

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
