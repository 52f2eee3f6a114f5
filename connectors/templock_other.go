//go:build !unix

package connectors

import (
	"context"
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

// lockAppend does nothing where flock does not exist: there, two runs must
// not append to one file at once.
func lockAppend(context.Context, *os.File) error { return nil }
