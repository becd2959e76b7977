package fileblob

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openFlusher returns the flusher of the file system that holds dir:
// syncfs(2) on a descriptor of dir opened now, so that the file system
// reports to it every write-back error from now on (Linux 5.8 and later).
func openFlusher(dir string) (*flusher, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	fd := int(d.Fd())
	return &flusher{
		sync: func() error {
			for {
				if err := unix.Syncfs(fd); !errors.Is(err, unix.EINTR) {
					return err
				}
			}
		},
		close: d.Close,
	}, nil
}
