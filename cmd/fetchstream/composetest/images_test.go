package composetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	recipe "github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"
)

// images are the test's stand-ins for the images the compose file names.
type images struct {
	fetchstream, nats string
	jetstream         bool // the fetchstream binary has `run --jetstream`
}

// buildImages builds fetchstream and nats-server for the engine's
// platform and images FROM scratch around them (the one recipe, in
// cmd/fetchstream/internal/images), tagged with project; the images are
// removed when t ends.
func buildImages(t *testing.T, docker dockerEnv, root, project string) images {
	t.Helper()
	built, err := recipe.Build(context.Background(), recipe.Options{
		Root: root, Arch: docker.arch, WorkDir: t.TempDir(), Logf: t.Logf,
		Fetchstream: "fetchstream-composetest/fetchstream:" + project,
		NATS:        "fetchstream-composetest/nats:" + project,
	})
	t.Cleanup(func() {
		if err := recipe.Remove(context.Background(), built); err != nil {
			t.Logf("remove the test images: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, built.Fetchstream)
	return images{fetchstream: built.Fetchstream, nats: built.NATS, jetstream: built.JetStream}
}

// checkImage fails t unless image runs as a non-root user and has a
// health check, as the Dockerfile promises.
func checkImage(t *testing.T, image string) {
	t.Helper()
	out, err := recipe.Run(context.Background(), time.Minute, nil, "", "docker", "image", "inspect", "--format", "{{json .Config}}", image)
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		User        string
		Healthcheck *struct{ Test []string }
		Entrypoint  []string
	}
	if err := json.Unmarshal([]byte(out), &config); err != nil {
		t.Fatalf("image config %s: %v", out, err)
	}
	if user := strings.Split(config.User, ":")[0]; user == "" || user == "0" || user == "root" {
		t.Errorf("image %s runs as user %q, want a non-root user", image, config.User)
	}
	if config.Healthcheck == nil || len(config.Healthcheck.Test) == 0 {
		t.Errorf("image %s has no HEALTHCHECK", image)
	}
	if len(config.Entrypoint) != 1 || config.Entrypoint[0] != "/fetchstream" {
		t.Errorf("image %s entrypoint = %q, want [/fetchstream]", image, config.Entrypoint)
	}
}
