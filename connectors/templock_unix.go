//go:build unix

package connectors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockFile takes an advisory lock on a temporary file for as long as it is
// open, which is how another run tells it from one a killed run left. The
// lock goes with the process, however it ends.
func lockFile(f *os.File) {
	_ = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// abandoned reports whether no live process holds the temporary file at
// path locked.
func abandoned(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// appendLockWait is how long a file sink waits between tries for the lock
// of a file another run is appending to.
const appendLockWait = 20 * time.Millisecond

// lockAppend takes the exclusive lock of a file a sink appends to, waiting
// while another run (of this process or another) holds it, until ctx ends.
// The lock is what makes taking a failed run's bytes back safe: nobody else
// appended after them. It goes with the file's closing, or the process.
func lockAppend(ctx context.Context, f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("cannot lock %s against other runs appending to it: %w", f.Name(), err)
		}
		t := time.NewTimer(appendLockWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("another run is appending to %s, and this one stopped waiting for it: %w", f.Name(), context.Cause(ctx))
		case <-t.C:
		}
	}
}
