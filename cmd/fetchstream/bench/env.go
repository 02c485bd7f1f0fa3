package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/internal/cpuprofile"
)

// env is what the scenarios of one Run share.
type env struct {
	cfg           Config
	natsURL       string
	nc            *nats.Conn
	runID         string // unique to this Run: names what it leaves on the server
	target        *target
	log           io.Writer
	seq           int    // services started so far
	executable    string // serves `bench client`
	serviceBinary string // serves `run`
}

// subjects are the wire subjects of one service child.
type subjects struct{ in, out, batches string }

// service starts a service on fresh subjects, so that runs cannot see
// each other's messages.
func (e *env) service(ctx context.Context, args ...string) (*serviceChild, subjects, error) {
	e.seq++
	s := subjects{
		in:      fmt.Sprintf("bench.%s.%d.urls", e.runID, e.seq),
		out:     fmt.Sprintf("bench.%s.%d.results", e.runID, e.seq),
		batches: fmt.Sprintf("bench.%s.%d.batches", e.runID, e.seq),
	}
	base := []string{"--nats-url", e.natsURL, "--allow-net", "127.0.0.0/8",
		"--in", s.in, "--out", s.out, "--batches-subject", s.batches}
	if e.cfg.ProfileDir != "" {
		base = append(base, "--cpu-profile", filepath.Join(e.cfg.ProfileDir, fmt.Sprintf("run-%d.pprof", e.seq)))
	}
	c, err := startService(ctx, e.serviceBinary, append(base, args...)...)
	return c, s, err
}

// rounds calls round(i) for each round, stopping at the first error.
func (e *env) rounds(round func(i int) error) error {
	for i := range e.cfg.Rounds {
		if err := round(i); err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
	}
	return nil
}

// rotate runs phases in an order that starts one later in each round.
func rotate(round int, phases ...func() error) error {
	for i := range phases {
		if err := phases[(round+i)%len(phases)](); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// binaryOrSelf is binary, or this executable when binary is "".
func binaryOrSelf(binary string) (string, error) {
	if binary != "" {
		return binary, nil
	}
	return os.Executable()
}

// profileSelf writes a CPU profile of this process into dir until stop.
func profileSelf(dir string) (stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ProfileDir: %w", err)
	}
	if stop, err = cpuprofile.Start(filepath.Join(dir, "bench.pprof")); err != nil {
		return nil, fmt.Errorf("ProfileDir: %w", err)
	}
	return stop, nil
}
