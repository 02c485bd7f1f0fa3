package composetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"
)

// composeTimeout bounds one compose command (up waits for containers to
// stop when it recreates them; fetchstream's stop grace is 35s).
const composeTimeout = 3 * time.Minute

// stack is the compose project the test brings up. Its variables are the
// only thing the test changes in the compose file.
type stack struct {
	t       *testing.T
	docker  dockerEnv
	files   []string // the repository's docker-compose.yml, then overrides
	project string
	vars    map[string]string

	natsPort, monitorPort int
}

// errRetryable marks an up that failed on a resource someone else took
// (a host port or a subnet): it is worth trying again with new ones.
var errRetryable = errors.New("host port or subnet taken")

// startStack brings the project up (nats, target, one fetchstream) with
// img, free loopback ports and a free subnet, and takes it down with its
// volumes when t ends, logging what compose printed if t failed. The
// overrides (file names in root, e.g. docker-compose.cluster.yml) are
// applied over docker-compose.yml in order.
func startStack(t *testing.T, docker dockerEnv, root, project string, img images, overrides ...string) *stack {
	t.Helper()
	s := &stack{t: t, docker: docker, files: []string{filepath.Join(root, "docker-compose.yml")}, project: project}
	for _, o := range overrides {
		s.files = append(s.files, filepath.Join(root, o))
	}
	t.Cleanup(s.down)
	var tried []string
	for attempt := 1; ; attempt++ {
		subnet, err := freeSubnet(tried)
		if err != nil {
			t.Fatal(err)
		}
		tried = append(tried, subnet)
		ports := freePorts(t, 2)
		s.natsPort, s.monitorPort = ports[0], ports[1]
		s.vars = map[string]string{
			"NATS_IMAGE":             img.nats,
			"FETCHSTREAM_IMAGE":      img.fetchstream,
			"NATS_HOST_PORT":         fmt.Sprint(s.natsPort),
			"NATS_MONITOR_HOST_PORT": fmt.Sprint(s.monitorPort),
			"FETCHSTREAM_SUBNET":     subnet,
			"FETCHSTREAM_JETSTREAM":  "false",
		}
		err = s.up()
		if err == nil {
			t.Logf("project %s up: NATS on 127.0.0.1:%d, monitoring on 127.0.0.1:%d, subnet %s",
				project, s.natsPort, s.monitorPort, subnet)
			return s
		}
		if !errors.Is(err, errRetryable) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; trying other ports and subnet", attempt, err)
		s.down()
	}
}

// compose runs a compose command on the project and returns its output.
func (s *stack) compose(args ...string) (string, error) {
	env := os.Environ()
	for k, v := range s.vars {
		env = append(env, k+"="+v)
	}
	argv := slices.Clone(s.docker.compose[1:])
	for _, f := range s.files {
		argv = append(argv, "-f", f)
	}
	argv = append(argv, "-p", s.project)
	return recipe.Run(context.Background(), composeTimeout, env, filepath.Dir(s.files[0]), s.docker.compose[0], append(argv, args...)...)
}

// must runs a compose command and fails t if it fails.
func (s *stack) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.compose(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// up brings the project to its current variables with fetchstream
// scaled to replicas (default 1), never building: the images exist.
func (s *stack) up(extra ...string) error {
	out, err := s.compose(append([]string{"up", "-d", "--no-build"}, extra...)...)
	if err != nil && (strings.Contains(out, "address already in use") || strings.Contains(out, "port is already allocated") ||
		strings.Contains(out, "overlaps")) {
		return fmt.Errorf("%w: %v", errRetryable, err)
	}
	return err
}

// scale brings the project up with n fetchstream replicas.
func (s *stack) scale(t *testing.T, n int) {
	t.Helper()
	if err := s.up("--scale", fmt.Sprintf("fetchstream=%d", n)); err != nil {
		t.Fatal(err)
	}
}

// containers returns the ids of service's containers.
func (s *stack) containers(t *testing.T, service string) []string {
	t.Helper()
	return strings.Fields(s.must(t, "ps", "-q", service))
}

// waitHealthy waits until n containers of service report healthy.
func (s *stack) waitHealthy(t *testing.T, service string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ids := s.containers(t, service)
		var states []string
		if len(ids) > 0 {
			out, err := recipe.Run(context.Background(), time.Minute, nil, "", "docker",
				append([]string{"inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"}, ids...)...)
			if err != nil {
				t.Fatal(err)
			}
			states = strings.Fields(out)
		}
		if len(states) == n && !slices.ContainsFunc(states, func(st string) bool { return st != "healthy" }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %d healthy containers within %s, have %q", service, n, timeout, states)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// down removes the project's containers, network and volumes, first
// logging what the services printed if the test failed.
func (s *stack) down() {
	if s.t.Failed() {
		if out, err := s.compose("ps"); err == nil {
			s.t.Logf("compose ps:\n%s", out)
		}
		out, _ := s.compose("logs", "--no-color", "--tail=200")
		s.t.Logf("compose logs (last 200 lines per service):\n%s", out)
	}
	if out, err := s.compose("down", "-v", "--remove-orphans", "--timeout", "40"); err != nil {
		s.t.Errorf("compose down: %v\n%s", err, out)
	}
}
