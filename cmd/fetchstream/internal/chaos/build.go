package chaos

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// Binaries are the two programs a run starts.
type Binaries struct {
	Fetchstream string // `fetchstream`, run as the replicas
	NATSServer  string // `nats-server`, run as the cluster's nodes
}

// Build compiles cmd/fetchstream and the nats-server that go.mod
// requires into dir (the go command must be on PATH and the working
// directory inside the module).
func Build(ctx context.Context, dir string) (Binaries, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"github.com/fetchstream/fetchstream/cmd/fetchstream", "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return Binaries{Fetchstream: filepath.Join(dir, "fetchstream"), NATSServer: filepath.Join(dir, "nats-server")}, nil
}
