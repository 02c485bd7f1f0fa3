package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
	"github.com/fetchstream/fetchstream/wire"
)

// A Go program embeds the service, here with its own embedded NATS
// server, waits until it consumes, and sends it a batch by request-reply.
func Example() {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer target.Close()
	dir, err := os.MkdirTemp("", "fetchstream-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := service.Defaults()
	cfg.NATS.Listen, cfg.NATS.DataDir = "127.0.0.1:-1", dir // embedded, on any free port
	cfg.Fetch.AllowNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	svc, err := service.New(cfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- svc.Run(ctx) }()
	select {
	case <-svc.Running():
	case err := <-stopped:
		log.Fatal(err)
	}

	nc, err := nats.Connect(svc.NATSURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	batch, _ := json.Marshal([]string{target.URL + "/", target.URL + "/missing"})
	reply, err := nc.Request(cfg.Subjects.In, batch, 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	var results []wire.Result
	if err := json.Unmarshal(reply.Data, &results); err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		outcome := string(r.Error)
		if r.OK() {
			outcome = "ok"
		}
		fmt.Println(r.Index, r.Status, outcome)
	}
	stop()
	fmt.Println("stopped:", <-stopped)
	// Output:
	// 0 200 ok
	// 1 404 http_error
	// stopped: <nil>
}
