package composetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// replica is one fetchstream client connection as the NATS server's
// monitoring endpoint (/connz) shows it.
type replica struct {
	CID     uint64         `json:"cid"`
	IP      string         `json:"ip"`
	Name    string         `json:"name"`
	OutMsgs int64          `json:"out_msgs"` // messages delivered to it: batches, and its fleet's politeness
	InMsgs  int64          `json:"in_msgs"`  // messages it published: results and summaries
	Subs    []subscription `json:"subscriptions_list_detail"`
}

// subscription is one of a connection's subscriptions, with the messages
// delivered to it.
type subscription struct {
	Subject string `json:"subject"`
	Msgs    int64  `json:"msgs"`
}

// subscribed reports whether r subscribes to subject.
func (r replica) subscribed(subject string) bool {
	return slices.ContainsFunc(r.Subs, func(s subscription) bool { return s.Subject == subject })
}

// replicas returns the connections named "fetchstream" (the service's
// connection name; health checks use another).
func (s *stack) replicas() ([]replica, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/connz?subs=detail&limit=1024", s.monitorPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []replica `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		return nil, fmt.Errorf("/connz: %w", err)
	}
	var out []replica
	for _, c := range connz.Connections {
		if c.Name == "fetchstream" {
			out = append(out, c)
		}
	}
	return out, nil
}

// waitReplicas waits until exactly n fetchstream connections are on the
// server, each subscribed to subject unless subject is empty, and
// returns them.
func (s *stack) waitReplicas(t *testing.T, n int, subject string, timeout time.Duration) []replica {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs, err := s.replicas()
		ready := 0
		for _, r := range rs {
			if subject == "" || r.subscribed(subject) {
				ready++
			}
		}
		if err == nil && ready == n && len(rs) == n {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d fetchstream connections (subscribed to %q) within %s; have %+v (err %v)", n, subject, timeout, rs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deliveries returns, per connection id, how many messages the server
// delivered to each replica on subject: its batches, not the messages of
// its fleet's politeness bucket.
func deliveries(rs []replica, subject string) map[uint64]int64 {
	out := make(map[uint64]int64, len(rs))
	for _, r := range rs {
		for _, s := range r.Subs {
			if s.Subject == subject {
				out[r.CID] += s.Msgs
			}
		}
	}
	return out
}
