//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the lock file Start keeps in a store directory.
const lockName = "fetchstream.lock"

// lockStore takes an exclusive flock on dir's lock file, creating dir if
// needed, and writes this process's id into it for the next one's error.
// The kernel drops the lock when the process dies, so a killed server
// never leaves a stale one.
func lockStore(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("JetStream store directory: %w", err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("JetStream store directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another server"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				if _, convErr := strconv.Atoi(pid); convErr == nil {
					who = "the server of process " + pid
				}
			}
			return nil, fmt.Errorf("%w: %s is used by %s; give each server its own directory", ErrStoreInUse, dir, who)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
