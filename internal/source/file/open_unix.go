//go:build unix

package file

import (
	"os"
	"syscall"
)

// openFlags open files without blocking when an entry turned out to be a
// FIFO; on regular files O_NONBLOCK has no effect.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
