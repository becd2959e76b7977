//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing where the kernel offers no parent-death
// signal; the tests' cleanups still kill their processes.
func dieWithParent(*exec.Cmd) {}
