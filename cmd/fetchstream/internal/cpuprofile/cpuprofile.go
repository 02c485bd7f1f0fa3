// Package cpuprofile writes a CPU profile of the process to a file, for
// `go tool pprof` (run --cpu-profile, bench --profile-dir).
package cpuprofile

import (
	"os"
	"runtime/pprof"
)

// Start profiles the process into a new file at path until stop is
// called; stop closes the file.
func Start(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
