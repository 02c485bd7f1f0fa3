package chaos

import (
	"context"
	"strings"
	"syscall"
	"time"
)

// Kind is what a Step does.
type Kind string

// The kinds of step.
const (
	KillResultsLeader Kind = "kill-results-leader" // SIGKILL the node leading ResultsStream
	KillInputLeader   Kind = "kill-input-leader"   // SIGKILL the node leading InputStream
	KillNode          Kind = "kill-node"           // SIGKILL a node chosen at random
	KillReplica       Kind = "kill-replica"        // SIGKILL a replica chosen at random
	StopReplica       Kind = "stop-replica"        // SIGSTOP a replica chosen at random; SIGCONT after Down
	// RestartInElection kills a replica and the results stream leader's
	// node together and starts the replica again at once, so that its
	// set-up meets the election; the node comes back after Down.
	RestartInElection Kind = "restart-replica-in-election"
)

// Step is one blow of a plan: at At after the load starts (or once the
// step before it is over, if later), and once every running node is
// healthy, do Kind; after Down, restart (or continue) what it hit.
type Step struct {
	At   time.Duration
	Kind Kind
	Down time.Duration
}

// do carries out one step.
func (h *harness) do(ctx context.Context, st Step) {
	if err := h.cl.waitHealthy(ctx, 2*time.Minute); err != nil {
		h.event("before %s: %v (going on)", st.Kind, err)
	}
	switch st.Kind {
	case KillResultsLeader, KillInputLeader, KillNode, RestartInElection:
		roles := h.roles(ctx)
		i := h.rng.IntN(len(h.cl.nodes))
		if st.Kind != KillNode {
			stream := map[Kind]string{KillResultsLeader: ResultsStream, KillInputLeader: InputStream, RestartInElection: ResultsStream}[st.Kind]
			if i = h.cl.index(roles.streams[stream]); i < 0 {
				h.event("%s: no leader of %s found; skipped", st.Kind, stream)
				return
			}
		}
		name := h.cl.nodes[i].name
		var r *replica
		if st.Kind == RestartInElection {
			r = h.replicas[h.rng.IntN(len(h.replicas))]
			r.kill9()
		}
		h.cl.kill(i)
		h.event("kill -9 node %s (%s)", name, roles.of(name))
		if r != nil {
			h.event("kill -9 replica %s and start it again at once, in the election", r.name)
			_ = r.start()
			began := time.Now()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				err := r.waitReady(ctx, 2*time.Minute)
				h.event("replica %s ready in %s (err %v)", r.name, time.Since(began).Round(time.Millisecond), err)
			}()
		}
		_ = sleep(ctx, st.Down)
		if err := h.cl.start(i); err != nil {
			h.event("restart node %s: %v", name, err)
			return
		}
		h.event("node %s restarted after %s", name, st.Down)
	case KillReplica, StopReplica:
		r := h.replicas[h.rng.IntN(len(h.replicas))]
		if st.Kind == KillReplica {
			r.kill9()
			h.event("kill -9 replica %s", r.name)
			_ = sleep(ctx, st.Down)
			_ = r.start()
			began := time.Now()
			err := r.waitReady(ctx, 2*time.Minute)
			h.event("replica %s restarted after %s; ready in %s (err %v)", r.name, st.Down, time.Since(began).Round(time.Millisecond), err)
			return
		}
		if err := r.signal(syscall.SIGSTOP); err != nil {
			h.event("SIGSTOP %s: %v", r.name, err)
			return
		}
		h.event("SIGSTOP replica %s for %s (AckWait %s)", r.name, st.Down, h.o.AckWait)
		_ = sleep(ctx, st.Down)
		if err := r.signal(syscall.SIGCONT); err != nil {
			h.event("SIGCONT %s: %v", r.name, err)
			return
		}
		h.event("SIGCONT replica %s", r.name)
	default:
		h.event("unknown step %q; skipped", st.Kind)
	}
}

// roles says which node leads what, as far as the cluster answers
// within a few seconds.
type roles struct{ streams map[string]string } // stream or "consumer" → leader's name

func (r roles) of(name string) string {
	var what []string
	for _, k := range []string{InputStream, ResultsStream, "consumer"} {
		if r.streams[k] == name {
			what = append(what, "leads "+k)
		}
	}
	if len(what) == 0 {
		return "leads neither stream nor the consumer"
	}
	return strings.Join(what, ", ")
}

func (h *harness) roles(ctx context.Context) roles {
	r := roles{streams: map[string]string{}}
	deadline := time.Now().Add(20 * time.Second)
	for len(r.streams) < 3 && time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		for _, name := range []string{InputStream, ResultsStream} {
			if s, err := h.js.Stream(c, name); err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" {
				r.streams[name] = s.CachedInfo().Cluster.Leader
			}
		}
		if cons, err := h.js.Consumer(c, InputStream, Durable); err == nil && cons.CachedInfo().Cluster != nil &&
			cons.CachedInfo().Cluster.Leader != "" {
			r.streams["consumer"] = cons.CachedInfo().Cluster.Leader
		}
		cancel()
		if len(r.streams) < 3 {
			_ = sleep(ctx, 250*time.Millisecond)
		}
	}
	return r
}
