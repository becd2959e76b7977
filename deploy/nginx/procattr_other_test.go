//go:build !linux

package nginx

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life to
// its parent's; the tests' cleanups still stop every process they start.
func dieWithParent(*exec.Cmd) {}
