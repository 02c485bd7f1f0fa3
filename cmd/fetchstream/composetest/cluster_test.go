package composetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/wire"
)

// clusterResults is the results stream docker-compose.cluster.yml names.
const clusterResults = "FETCH_RESULTS"

// clusterFailover brings up docker-compose.yml with
// docker-compose.cluster.yml (three NATS nodes, two JetStream replicas
// creating R3 input and results streams, all started at once), checks
// that no container restarted on the way up, publishes batches, kills with
// SIGKILL the NATS node that leads the input stream (node 2 when node 1,
// the one the test talks to, leads) mid-load, and checks that every URL
// has exactly one result in the results stream, every batch one summary,
// and that no replica restarted.
func clusterFailover(t *testing.T, docker dockerEnv, root, project string, img images) {
	if !img.jetstream {
		t.Skip("skipping: this fetchstream has no JetStream mode")
	}
	s := startStack(t, docker, root, project, img, "docker-compose.cluster.yml")
	s.scale(t, 2)
	s.waitHealthy(t, "fetchstream", 2, 2*time.Minute)
	s.noRestarts(t, "nats", "nats-2", "nats-3", "fetchstream", "target")
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort), nats.Name("fetchstream-composetest-cluster"),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitConsumer(ctx, t, js, time.Minute)
	for _, name := range []string{inputStream, clusterResults} {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := stream.CachedInfo().Config.Replicas; r != 3 {
			t.Fatalf("stream %s has %d replicas, want 3", name, r)
		}
	}

	const nBatches, perBatch = 30, 4
	var batches []wire.Batch
	for i := range nBatches {
		b := wire.Batch{ID: fmt.Sprintf("cluster-%02d", i), Concurrency: 1} // one URL after the other: ~4s a batch
		for j := range perBatch {
			b.URLs = append(b.URLs, wire.Request{URL: targetURL(fmt.Sprintf("/delay/1?batch=%d&url=%d", i, j))})
		}
		data, _ := json.Marshal(b)
		if _, err := js.Publish(ctx, wire.DefaultInSubject, data, jetstream.WithMsgID(b.ID)); err != nil {
			t.Fatalf("publish batch %s: %v", b.ID, err)
		}
		batches = append(batches, b)
	}
	waitStored(ctx, t, js, clusterResults, 10, time.Minute)
	stream, err := streamInfo(ctx, js, inputStream)
	if err != nil {
		t.Fatal(err)
	}
	victim := map[string]string{"nats-1": "nats-2", "nats-2": "nats-2", "nats-3": "nats-3"}[stream.CachedInfo().Cluster.Leader]
	if victim == "" {
		t.Fatalf("the input stream has no known leader: %+v", stream.CachedInfo().Cluster)
	}
	ids := s.containers(t, victim)
	if out, err := recipe.Run(ctx, time.Minute, nil, "", "docker", "kill", "--signal", "KILL", ids[0]); err != nil {
		t.Fatalf("kill NATS node %s: %v\n%s", victim, err, out)
	}
	t.Logf("killed NATS node %s mid-load (the input stream's leader was %s)", victim, stream.CachedInfo().Cluster.Leader)

	waitInputEmpty(ctx, t, js, 3*time.Minute) // every batch acked: its results and summary are in the results stream
	seen, summaries := readStream(ctx, t, js, clusterResults)
	for _, b := range batches {
		for i := range b.URLs {
			if n := len(seen[resultKey{b.ID, i}]); n != 1 {
				t.Errorf("batch %s URL %d: %d results in the results stream, want exactly 1", b.ID, i, n)
			}
		}
	}
	if summaries != nBatches {
		t.Errorf("results stream holds %d summaries, want %d", summaries, nBatches)
	}
	s.noRestarts(t, "fetchstream")
}

// noRestarts fails t if a container of the services has been restarted
// (docker's RestartCount: restart: unless-stopped brings back a process
// that exited, so a start that crashed shows only there).
func (s *stack) noRestarts(t *testing.T, services ...string) {
	t.Helper()
	for _, service := range services {
		for _, id := range s.containers(t, service) {
			out, err := recipe.Run(context.Background(), time.Minute, nil, "", "docker", "inspect", "--format",
				"{{.Name}} {{.RestartCount}}", id)
			if err != nil {
				t.Fatal(err)
			}
			name, count, _ := strings.Cut(strings.TrimSpace(out), " ")
			if count != "0" {
				t.Errorf("%s container %s restarted %s times", service, name, count)
			}
		}
	}
}

// readStream reads every message of the stream by sequence (direct gets,
// which need no consumer to be placed while a node is down): the results
// by batch and index, and the number of summaries.
func readStream(ctx context.Context, t *testing.T, js jetstream.JetStream, name string) (map[resultKey][]wire.Result, int) {
	t.Helper()
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen, summaries := map[resultKey][]wire.Result{}, 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream %s message %d: %v", name, seq, err)
		}
		if msg.Subject != wire.DefaultResultsSubject {
			summaries++
			continue
		}
		var r wire.Result
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatalf("result %s: %v", msg.Data, err)
		}
		key := resultKey{r.BatchID, r.Index}
		seen[key] = append(seen[key], r)
	}
	return seen, summaries
}

// waitStored waits until the stream holds at least n messages.
func waitStored(ctx context.Context, t *testing.T, js jetstream.JetStream, name string, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		stream, err := streamInfo(ctx, js, name)
		if err == nil && stream.CachedInfo().State.Msgs >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: fewer than %d messages within %s (err %v)", name, n, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
