package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills the child if the test process dies first (a
// test timeout), so no fetchstream is left running.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
