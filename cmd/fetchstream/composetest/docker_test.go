package composetest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"
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
	arch, err := recipe.Run(context.Background(), 30*time.Second, nil, "", "docker", "version", "--format", "{{.Server.Arch}}")
	if err != nil {
		t.Skipf("skipping: no Docker engine answers (docker version: %v)", err)
	}
	env := dockerEnv{arch: strings.TrimSpace(arch)}
	if _, err := recipe.Run(context.Background(), 30*time.Second, nil, "", "docker", "compose", "version"); err == nil {
		env.compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		env.compose = []string{"docker-compose"}
	} else {
		t.Skip("skipping: neither `docker compose` nor `docker-compose` is installed")
	}
	return env
}
