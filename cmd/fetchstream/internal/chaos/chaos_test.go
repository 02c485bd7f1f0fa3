package chaos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Under 10 batches/s of 10-20 mixed URLs, published with JetStream into
// an R3 input stream on a cluster of three nats-server processes, with
// three replicas keeping results in an R3 results stream: the node that
// leads the results stream is killed (kill -9) three times in 40s, the node
// that leads the input stream once and a replica once, each brought back a few
// seconds later; the third time, a replica is killed with it and started
// again at once, during the election. Every batch the input stream acknowledged must then be
// in the results stream complete, each result and summary once, in batch
// order, and none on the dead-letter subject; no replica may exit unasked.
func TestChaosKillsLeadersAndAReplicaUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a chaos run of about 90s on real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The logs of nodes and replicas are kept where the test failed.
	dir, err := os.MkdirTemp("", "fetchstream-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the nodes and replicas kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	bins, err := Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	out, err := Run(ctx, Options{
		Binaries: bins, Dir: dir, Nodes: 3, Replicas: 3, Rate: 10, MinURLs: 10, MaxURLs: 20,
		Load: 55 * time.Second, AckWait: 5 * time.Second, Drain: 90 * time.Second, SampleEvery: 5 * time.Second,
		Seed: seed, Logf: t.Logf,
		Steps: []Step{
			{At: 8 * time.Second, Kind: KillResultsLeader, Down: 5 * time.Second},
			{At: 20 * time.Second, Kind: KillInputLeader, Down: 5 * time.Second},
			{At: 30 * time.Second, Kind: KillResultsLeader, Down: 5 * time.Second},
			{At: 38 * time.Second, Kind: KillReplica, Down: 3 * time.Second},
			{At: 45 * time.Second, Kind: RestartInElection, Down: 5 * time.Second},
		},
	})
	if out != nil {
		var b strings.Builder
		out.Print(&b, 40)
		t.Log("\n" + b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	r := out.Report
	if r.Batches < 100 {
		t.Errorf("only %d batches acknowledged: the load did not run", r.Batches)
	}
	for _, f := range []struct {
		what string
		n    int
	}{
		{"lost", r.Lost}, {"incomplete", r.Incomplete}, {"without summary", r.NoSummary},
		{"with a summary error", r.SummaryError}, {"duplicated", r.Duplicated}, {"reordered", r.Reordered},
		{"dead-lettered", r.DeadLettered}, {"dead letters seen", out.DeadLetters}, {"replica exits unasked", len(out.Exits)},
	} {
		if f.n != 0 {
			t.Errorf("%s: %d, want 0", f.what, f.n)
		}
	}
	if !out.Drained {
		t.Errorf("the consumer did not drain: %d pending, %d unacknowledged", out.Pending, out.AckPending)
	}
}
