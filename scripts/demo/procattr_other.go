//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing outside Linux; stop ends the processes.
func dieWithParent(*exec.Cmd) {}
