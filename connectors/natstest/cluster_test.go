package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fetchstream/fetchstream/connectors/natstest"
)

// A three-node cluster keeps an R3 stream through the loss of its leader,
// elects another, and takes the node back on its ports and store.
func TestClusterStopAndRestart(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s", []byte("before")); err != nil {
		t.Fatal(err)
	}
	leader := c.StreamLeader("S", 10*time.Second)
	c.Stop(leader)
	if c.Server(leader) != nil {
		t.Fatal("a stopped node still has a server")
	}
	if next := c.StreamLeader("S", 20*time.Second); next == leader {
		t.Fatalf("node %d is stopped and still leads", leader)
	}
	var ack *jetstream.PubAck
	for ack == nil && ctx.Err() == nil {
		if ack, err = js.Publish(ctx, "s", []byte("after")); err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if ack == nil || ack.Sequence != 2 {
		t.Fatalf("publish after the leader went: %+v, %v", ack, err)
	}
	c.Restart(leader)
	direct := natstest.Connect(t, c.Server(leader).ClientURL(), nats.MaxReconnects(-1))
	if !direct.IsConnected() {
		t.Fatal("the restarted node takes no connections")
	}
	c.WaitMetaLeader(20 * time.Second)
}
