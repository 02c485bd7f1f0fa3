package composetest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dockerEnv is a Docker engine that answers and the compose command to use.
type dockerEnv struct {
	compose []string // "docker compose" (v2) or "docker-compose" (v1)
	arch    string   // the engine's GOARCH
}

// requireDocker skips t unless a Docker engine answers and a compose
// command exists.
func requireDocker(t *testing.T) dockerEnv {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("skipping: no docker command on PATH")
	}
	arch, err := run(context.Background(), 30*time.Second, nil, "", "docker", "version", "--format", "{{.Server.Arch}}")
	if err != nil {
		t.Skipf("skipping: no Docker engine answers (docker version: %v)", err)
	}
	env := dockerEnv{arch: strings.TrimSpace(arch)}
	if _, err := run(context.Background(), 30*time.Second, nil, "", "docker", "compose", "version"); err == nil {
		env.compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		env.compose = []string{"docker-compose"}
	} else {
		t.Skip("skipping: neither `docker compose` nor `docker-compose` is installed")
	}
	return env
}

// run runs a command in dir with extra environment variables, and returns
// its combined output; the error carries that output.
func run(ctx context.Context, timeout time.Duration, env []string, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}
