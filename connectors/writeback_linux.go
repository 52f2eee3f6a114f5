package connectors

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing the given range of f to disk and returns
// without waiting. It is advice: an error changes nothing, the final fsync
// still decides.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
