package chaos

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills the child if this process dies first, so no
// nats-server or fetchstream is left running after a test timeout.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
