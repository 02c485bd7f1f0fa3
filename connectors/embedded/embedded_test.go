package embedded

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
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

// A port another server holds is told at once, not after the 10s wait
// for a server that cannot listen.
func TestTakenPortIsToldAtOnce(t *testing.T) {
	first, err := Start(Config{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown()
	port := first.Addr().(*net.TCPAddr).Port
	start := time.Now()
	second, err := Start(Config{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir()})
	if err == nil {
		second.Shutdown()
		t.Fatal("a second server started on a taken port")
	}
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("second start: %v, want ErrPortInUse naming the address", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the taken port took %s to be told", waited)
	}
}
