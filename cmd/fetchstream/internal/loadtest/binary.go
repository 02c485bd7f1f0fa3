package loadtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binary is the fetchstream command built once for a test binary, for
// the tests that run it as a process. The zero value is ready; declare
// one per test package, and let TestMain run the tests through Run so
// that the build is removed after them.
type Binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Path builds cmd/fetchstream on its first call (later calls wait for
// that build and share it) and returns the executable's path. A failed
// build fails the test of every call.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "fetchstream-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "fetchstream")
		out, err := exec.Command("go", "build", "-o", b.path, "github.com/fetchstream/fetchstream/cmd/fetchstream").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Run runs the package's tests (m.Run), then deletes what Path built, if
// it built anything, and returns m.Run's code for os.Exit.
func (b *Binary) Run(m *testing.M) int {
	code := m.Run()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	return code
}
