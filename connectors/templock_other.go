//go:build !unix

package connectors

import (
	"os"
	"time"
)

// lockFile does nothing where flock does not exist.
func lockFile(*os.File) {}

// abandoned takes a temporary file untouched for a day as left by a run
// that died, where there is no lock to ask.
func abandoned(path string) bool {
	info, err := os.Stat(path)
	return err == nil && time.Since(info.ModTime()) > 24*time.Hour
}
