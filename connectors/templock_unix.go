//go:build unix

package connectors

import (
	"os"

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
