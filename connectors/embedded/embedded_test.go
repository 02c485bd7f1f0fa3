package embedded

import (
	"errors"
	"strings"
	"testing"
)

// A second server on the same store directory refuses to start, with an
// error that says which directory and that it is in use; once the first
// one shuts down, the directory is free again.
func TestSecondServerOnOneStoreRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir}
	first, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Start(cfg)
	if err == nil {
		second.Shutdown()
		first.Shutdown()
		t.Fatal("a second server started on the same store directory")
	}
	if !errors.Is(err, ErrStoreInUse) || !strings.Contains(err.Error(), dir) {
		t.Errorf("second start: %v, want ErrStoreInUse naming %s", err, dir)
	}
	first.Shutdown()
	first.Shutdown() // idempotent
	third, err := Start(cfg)
	if err != nil {
		t.Fatalf("after the first shut down, the directory should be free: %v", err)
	}
	third.Shutdown()
}

func TestStartValidates(t *testing.T) {
	if _, err := Start(Config{Host: "127.0.0.1", Port: -1, JetStream: true}); !errors.Is(err, ErrConfig) {
		t.Errorf("JetStream without a store: %v, want ErrConfig", err)
	}
}
