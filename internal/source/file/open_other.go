//go:build !unix

package file

import "os"

// openFlags open files read-only; platforms without O_NONBLOCK have no
// FIFOs on the shares intake mounts.
const openFlags = os.O_RDONLY
