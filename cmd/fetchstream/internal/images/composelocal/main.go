// Command composelocal runs docker-compose.yml without a registry: it
// builds the fetchstream and nats-server images FROM scratch from
// binaries built here (package images, the compose test's recipe), tags
// them fetchstream:local and fetchstream-nats:local, and runs
// docker-compose (v1) with them, or `docker compose` (v2) when v1 is not
// installed. .ci/compose-local runs it:
//
//	.ci/compose-local                  build, then docker-compose up -d
//	.ci/compose-local --cluster up -d  the same over docker-compose.cluster.yml
//	.ci/compose-local --no-build ps    any compose command, images as they are
//	.ci/compose-local -- -p demo up -d  compose flags after --
//
// Arguments after the flags go to compose (default: up -d); --no-build is
// added to up, so compose never tries to pull or build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/images"
)

func main() {
	if err := run(); errors.Is(err, flag.ErrHelp) {
		return // the usage is printed: asking for it is no failure
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "compose-local:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("compose-local", flag.ContinueOnError)
	cluster := fs.Bool("cluster", false, "also apply docker-compose.cluster.yml: three NATS nodes, R3 streams")
	noBuild := fs.Bool("no-build", false, "do not build the images (they exist from an earlier run)")
	fetchstreamTag := fs.String("fetchstream-image", "fetchstream:local", "tag of the fetchstream image")
	natsTag := fs.String("nats-image", "fetchstream-nats:local", "tag of the nats-server image")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: .ci/compose-local [flags] [-- compose arguments]   (default arguments: up -d)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	args := fs.Args()
	if len(args) == 0 {
		args = []string{"up", "-d"}
	}
	if i := slices.Index(args, "up"); i >= 0 && !slices.Contains(args, "--no-build") {
		args = slices.Insert(args, i+1, "--no-build")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if !*noBuild {
		arch, err := images.EngineArch(ctx)
		if err != nil {
			return fmt.Errorf("no Docker engine answers: %w", err)
		}
		work, err := os.MkdirTemp("", "fetchstream-images-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
		if _, err := images.Build(ctx, images.Options{Root: root, Arch: arch, WorkDir: work, Logf: logf,
			Fetchstream: *fetchstreamTag, NATS: *natsTag}); err != nil {
			return err
		}
		logf("built images %s and %s", *fetchstreamTag, *natsTag)
	}
	compose, err := composeCommand()
	if err != nil {
		return err
	}
	argv := slices.Clone(compose[1:])
	argv = append(argv, "-f", filepath.Join(root, "docker-compose.yml"))
	if *cluster {
		argv = append(argv, "-f", filepath.Join(root, "docker-compose.cluster.yml"))
	}
	cmd := exec.CommandContext(ctx, compose[0], append(argv, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "FETCHSTREAM_IMAGE="+*fetchstreamTag, "NATS_IMAGE="+*natsTag)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	fmt.Fprintf(os.Stderr, "FETCHSTREAM_IMAGE=%s NATS_IMAGE=%s %s %s\n", *fetchstreamTag, *natsTag, compose[0],
		strings.Join(append(argv, args...), " "))
	return cmd.Run()
}

// composeCommand is docker-compose (v1) when installed, else `docker compose` (v2).
func composeCommand() ([]string, error) {
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}, nil
	}
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return []string{"docker", "compose"}, nil
	}
	return nil, errors.New("neither docker-compose (v1) nor `docker compose` (v2) is installed")
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run it inside the fetchstream module")
	}
	return filepath.Dir(gomod), nil
}
