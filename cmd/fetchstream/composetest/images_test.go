package composetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// images are the test's stand-ins for the images the compose file names.
type images struct {
	fetchstream, nats string
	jetstream         bool // the fetchstream binary has `run --jetstream`
}

// buildImages builds fetchstream and nats-server for the engine's
// platform and images FROM scratch around them, tagged with project; the
// images are removed when t ends.
func buildImages(t *testing.T, docker dockerEnv, root, project string) images {
	t.Helper()
	bin := t.TempDir()
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+docker.arch)
	start := time.Now()
	if _, err := run(context.Background(), 10*time.Minute, env, root, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", bin+string(filepath.Separator), "./cmd/fetchstream", "github.com/nats-io/nats-server/v2"); err != nil {
		t.Fatalf("build the binaries: %v", err)
	}
	t.Logf("built fetchstream and nats-server in %s", time.Since(start).Round(time.Second))
	help, _ := run(context.Background(), time.Minute, nil, "", filepath.Join(bin, "fetchstream"), "run", "-h")

	img := images{
		fetchstream: "fetchstream-composetest/fetchstream:" + project,
		nats:        "fetchstream-composetest/nats:" + project,
		jetstream:   strings.Contains(help, "-jetstream"),
	}
	t.Cleanup(func() {
		if out, err := run(context.Background(), time.Minute, nil, "", "docker", "rmi", "-f", img.fetchstream, img.nats); err != nil {
			t.Logf("remove the test images: %v\n%s", err, out)
		}
	})

	fsContext := t.TempDir()
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{
		"/out/fetchstream":                   filepath.Join(bin, "fetchstream"),
		"/out/tmp":                           "", // an empty directory
		"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
	final, err := runtimeStage(string(dockerfile), sources, fsContext)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	buildImage(t, fsContext, final, img.fetchstream)
	checkImage(t, img.fetchstream)

	natsContext := t.TempDir()
	if err := os.Rename(filepath.Join(bin, "nats-server"), filepath.Join(natsContext, "nats-server")); err != nil {
		t.Fatal(err)
	}
	buildImage(t, natsContext, "FROM scratch\nCOPY nats-server /nats-server\nENTRYPOINT [\"/nats-server\"]\n", img.nats)
	return img
}

// runtimeStage returns the last stage of dockerfile, which must be FROM
// scratch, with each `COPY --from=build SRC DST` rewritten to copy SRC
// from dir, where it puts sources[SRC] (a file copied, or an empty
// directory for ""; a missing file becomes empty). The other lines pass
// through, so the image keeps the Dockerfile's USER, ENTRYPOINT, CMD and
// HEALTHCHECK.
func runtimeStage(dockerfile string, sources map[string]string, dir string) (string, error) {
	lines := strings.Split(dockerfile, "\n")
	last := -1
	for i, line := range lines {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(line)), "FROM ") {
			last = i
		}
	}
	if last < 0 || !strings.EqualFold(strings.Fields(lines[last])[1], "scratch") {
		return "", fmt.Errorf("the last stage must be FROM scratch, got %q", lines[max(last, 0)])
	}
	var out strings.Builder
	for _, line := range lines[last:] {
		fields := strings.Fields(line)
		if strings.HasSuffix(strings.TrimSpace(line), `\`) {
			return "", fmt.Errorf("line continuations are not supported in the last stage: %q", line)
		}
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") || !strings.HasPrefix(fields[1], "--from=") {
			out.WriteString(line + "\n")
			continue
		}
		if fields[1] != "--from=build" || len(fields) > 5 {
			return "", fmt.Errorf("want COPY --from=build [--chown=...] SRC DST, got %q", line)
		}
		src, dst, flags := fields[len(fields)-2], fields[len(fields)-1], fields[2:len(fields)-2]
		host, known := sources[src]
		if !known {
			return "", fmt.Errorf("the test does not know what to put at %s (from %q); add it to its sources", src, line)
		}
		local := filepath.Join("build", filepath.FromSlash(src))
		if err := stage(host, filepath.Join(dir, local)); err != nil {
			return "", err
		}
		fmt.Fprintf(&out, "COPY %s %s %s\n", strings.Join(flags, " "), filepath.ToSlash(local), dst)
	}
	return out.String(), nil
}

// stage puts host at path: a copy of the file, an empty file where host
// does not exist, or an empty directory where host is "".
func stage(host, path string) error {
	if host == "" {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(host)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	mode := os.FileMode(0o644)
	if info, err := os.Stat(host); err == nil {
		mode = info.Mode().Perm()
	}
	return os.WriteFile(path, data, mode)
}

// buildImage builds dockerfile in dir as tag.
func buildImage(t *testing.T, dir, dockerfile, tag string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(context.Background(), 5*time.Minute, nil, dir, "docker", "build", "-t", tag, "."); err != nil {
		t.Fatalf("build image %s from\n%s\n%v", tag, dockerfile, err)
	}
}

// checkImage fails t unless image runs as a non-root user and has a
// health check, as the Dockerfile promises.
func checkImage(t *testing.T, image string) {
	t.Helper()
	out, err := run(context.Background(), time.Minute, nil, "", "docker", "image", "inspect", "--format", "{{json .Config}}", image)
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
