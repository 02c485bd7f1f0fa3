// Package images builds the two images docker-compose.yml runs, FROM
// scratch, from binaries built here, without pulling anything: fetchstream
// (the final stage of the top-level Dockerfile, its COPY --from=build
// sources taken from the host) and nats-server (the version go.mod
// requires). The compose test and .ci/compose-local both build through
// Build, so there is one recipe.
package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options says where the module is and what to build.
type Options struct {
	Root        string // the module root (where go.mod and the Dockerfile are)
	Arch        string // GOARCH of the Docker engine, e.g. amd64
	Fetchstream string // tag of the fetchstream image
	NATS        string // tag of the nats-server image
	WorkDir     string // scratch space for binaries and build contexts; Build empties nothing outside it
	Logf        func(format string, args ...any)
}

// Built says what Build made.
type Built struct {
	Fetchstream, NATS string
	// JetStream reports that the fetchstream binary has `run --jetstream`.
	JetStream bool
}

// Build compiles fetchstream and nats-server (CGO_ENABLED=0, GOOS=linux,
// GOARCH=Arch) into WorkDir and builds the two images from them. ctx
// bounds it all; each step also has its own timeout.
func Build(ctx context.Context, o Options) (Built, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin := filepath.Join(o.WorkDir, "bin")
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	start := time.Now()
	if _, err := Run(ctx, 10*time.Minute, env, o.Root, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", bin+string(filepath.Separator), "./cmd/fetchstream", "github.com/nats-io/nats-server/v2"); err != nil {
		return Built{}, fmt.Errorf("build the binaries: %w", err)
	}
	logf("built fetchstream and nats-server in %s", time.Since(start).Round(time.Second))
	help, _ := Run(ctx, time.Minute, nil, "", filepath.Join(bin, "fetchstream"), "run", "-h")
	built := Built{Fetchstream: o.Fetchstream, NATS: o.NATS, JetStream: strings.Contains(help, "-jetstream")}

	fsContext := filepath.Join(o.WorkDir, "fetchstream-context")
	dockerfile, err := os.ReadFile(filepath.Join(o.Root, "Dockerfile"))
	if err != nil {
		return built, err
	}
	sources := map[string]string{
		"/out/fetchstream":                   filepath.Join(bin, "fetchstream"),
		"/out/tmp":                           "", // an empty directory
		"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
	final, err := RuntimeStage(string(dockerfile), sources, fsContext)
	if err != nil {
		return built, fmt.Errorf("Dockerfile: %w", err)
	}
	if err := buildImage(ctx, fsContext, final, o.Fetchstream); err != nil {
		return built, err
	}
	natsContext := filepath.Join(o.WorkDir, "nats-context")
	if err := os.MkdirAll(natsContext, 0o755); err != nil {
		return built, err
	}
	if err := os.Rename(filepath.Join(bin, "nats-server"), filepath.Join(natsContext, "nats-server")); err != nil {
		return built, err
	}
	err = buildImage(ctx, natsContext, "FROM scratch\nCOPY nats-server /nats-server\nENTRYPOINT [\"/nats-server\"]\n", o.NATS)
	return built, err
}

// Remove deletes the images Build made.
func Remove(ctx context.Context, b Built) error {
	_, err := Run(ctx, time.Minute, nil, "", "docker", "rmi", "-f", b.Fetchstream, b.NATS)
	return err
}

// EngineArch asks the Docker engine for its GOARCH; an error means no
// engine answers.
func EngineArch(ctx context.Context) (string, error) {
	arch, err := Run(ctx, 30*time.Second, nil, "", "docker", "version", "--format", "{{.Server.Arch}}")
	return strings.TrimSpace(arch), err
}

// RuntimeStage returns the last stage of dockerfile, which must be FROM
// scratch, with each `COPY --from=build SRC DST` rewritten to copy SRC
// from dir, where it puts sources[SRC] (a file copied, or an empty
// directory for ""; a missing file becomes empty). The other lines pass
// through, so the image keeps the Dockerfile's USER, ENTRYPOINT, CMD and
// HEALTHCHECK.
func RuntimeStage(dockerfile string, sources map[string]string, dir string) (string, error) {
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
			return "", fmt.Errorf("the recipe does not know what to put at %s (from %q); add it to its sources", src, line)
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
func buildImage(ctx context.Context, dir, dockerfile, tag string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	if _, err := Run(ctx, 5*time.Minute, nil, dir, "docker", "build", "-t", tag, "."); err != nil {
		return fmt.Errorf("build image %s from\n%s\n%w", tag, dockerfile, err)
	}
	return nil
}

// Run runs a command in dir with env (nil: the process's), bounded by
// timeout, and returns its combined output; the error carries that output.
func Run(ctx context.Context, timeout time.Duration, env []string, dir, name string, args ...string) (string, error) {
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
