//go:build !linux

package main

import "os/exec"

// setParentDeathSignal does nothing where there is no parent-death signal;
// the tests' cleanups kill their processes.
func setParentDeathSignal(*exec.Cmd) {}
