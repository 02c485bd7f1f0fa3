// Command soak is fetchstream's long chaos soak: the harness of
// cmd/fetchstream/internal/chaos run for -duration with random blows
// under load: a replica killed (kill -9) about every -replica-every, a
// NATS node killed about every -node-every (which node is chance: it may
// lead a stream or not; -aim-leaders picks the results stream's leader and
// the input stream's leader in turn instead), and one replica SIGSTOPped
// past the AckWait halfway through. It prints what it did as it goes, then
// the figures: batches lost, incomplete, duplicated, reordered and
// dead-lettered, and each replica's RSS and goroutines over time. It exits
// 1 when the figures are not all clean, 2 when the harness itself failed.
//
//	go run ./cmd/fetchstream/internal/soak -duration 15m
//
// It builds fetchstream and nats-server from this module (the go command
// must be on PATH and the working directory inside the module) unless
// -fetchstream and -nats-server name binaries to use.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/chaos"
)

func main() {
	var (
		duration     = flag.Duration("duration", 15*time.Minute, "how long the load runs (blows fall within it)")
		replicas     = flag.Int("replicas", 3, "fetchstream replicas")
		rate         = flag.Float64("rate", 10, "batches published per second")
		minURLs      = flag.Int("min-urls", 10, "URLs per batch at least")
		maxURLs      = flag.Int("max-urls", 20, "URLs per batch at most")
		replicaEvery = flag.Duration("replica-every", time.Minute, "a replica is killed about this often (0 means never)")
		nodeEvery    = flag.Duration("node-every", 150*time.Second, "a NATS node is killed about this often (0 means never)")
		nodeDown     = flag.Duration("node-down", 10*time.Second, "how long a killed node stays down")
		aimLeaders   = flag.Bool("aim-leaders", false, "kill the results stream's leader and the input stream's leader in turn, not a node at random")
		stop         = flag.Bool("stop", true, "SIGSTOP one replica past the AckWait halfway through")
		ackWait      = flag.Duration("ack-wait", 30*time.Second, "the replicas' --ack-wait")
		sampleEvery  = flag.Duration("sample-every", 30*time.Second, "how often each replica's RSS and goroutines are read")
		drain        = flag.Duration("drain", 3*time.Minute, "bound on the wait for the consumer to empty after the load")
		dir          = flag.String("dir", "", "directory for node stores and logs, kept afterwards (default: a new temporary one)")
		seed         = flag.Uint64("seed", 0, "seed of the load and of the random blows (0 means the time)")
		fetchstream  = flag.String("fetchstream", "", "fetchstream binary to run (default: build this module's)")
		natsServer   = flag.String("nats-server", "", "nats-server binary to run (default: build the version go.mod requires)")
		args         = flag.String("args", "", "more flags for every replica, space-separated, e.g. \"--max-deliver 10\"")
	)
	flag.Parse()
	log.SetFlags(0)
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "fetchstream-soak-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	bins := chaos.Binaries{Fetchstream: *fetchstream, NATSServer: *natsServer}
	if bins.Fetchstream == "" || bins.NATSServer == "" {
		built, err := chaos.Build(ctx, filepath.Join(*dir, "bin"))
		if err != nil {
			log.Print(err)
			os.Exit(2)
		}
		bins.Fetchstream = cmpOr(bins.Fetchstream, built.Fetchstream)
		bins.NATSServer = cmpOr(bins.NATSServer, built.NATSServer)
	}
	steps := plan(rand.New(rand.NewPCG(*seed, 7)), *duration, *replicaEvery, *nodeEvery, *nodeDown, *ackWait, *aimLeaders, *stop)
	fmt.Printf("soak: %s at %.0f batches/s, %d replicas, seed %d, %d blows planned; logs and stores in %s\n",
		*duration, *rate, *replicas, *seed, len(steps), *dir)
	out, err := chaos.Run(ctx, chaos.Options{
		Binaries: bins, Dir: *dir, Nodes: 3, Replicas: *replicas, Rate: *rate, MinURLs: *minURLs, MaxURLs: *maxURLs,
		Load: *duration, Steps: steps, AckWait: *ackWait, Args: strings.Fields(*args), Drain: *drain,
		SampleEvery: *sampleEvery, Seed: *seed, Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) },
	})
	if out != nil {
		out.Print(os.Stdout, 50)
	}
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	if !out.Clean() {
		fmt.Println("NOT CLEAN")
		os.Exit(1)
	}
	fmt.Println("clean")
}

// plan draws the blows: a replica kill about every replicaEvery and a
// node kill about every nodeEvery (each ±25%), and one SIGSTOP of
// ackWait+15s halfway through, in time order, all within the load.
func plan(rng *rand.Rand, load, replicaEvery, nodeEvery, nodeDown, ackWait time.Duration, aim, stop bool) []chaos.Step {
	var steps []chaos.Step
	jitter := func(d time.Duration) time.Duration { return d*3/4 + time.Duration(rng.Int64N(int64(d)/2+1)) }
	if replicaEvery > 0 {
		for at := jitter(replicaEvery); at < load-10*time.Second; at += jitter(replicaEvery) {
			steps = append(steps, chaos.Step{At: at, Kind: chaos.KillReplica, Down: time.Duration(2+rng.IntN(6)) * time.Second})
		}
	}
	if nodeEvery > 0 {
		n := 0
		for at := jitter(nodeEvery); at < load-10*time.Second; at += jitter(nodeEvery) {
			kind := chaos.KillNode
			if aim {
				kind = []chaos.Kind{chaos.KillResultsLeader, chaos.KillInputLeader}[n%2]
			}
			n++
			steps = append(steps, chaos.Step{At: at, Kind: kind, Down: nodeDown})
		}
	}
	if stop {
		steps = append(steps, chaos.Step{At: load / 2, Kind: chaos.StopReplica, Down: ackWait + 15*time.Second})
	}
	slices.SortStableFunc(steps, func(a, b chaos.Step) int { return int(a.At - b.At) })
	return steps
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
