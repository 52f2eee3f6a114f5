package state

import (
	"context"

	"github.com/pipectl/pipectl/pipelines/component"
)

// MigrateOnly creates or migrates the database url names up to version
// only, and closes it: the schema an older pipectl left.
func MigrateOnly(ctx context.Context, url string, version int) error {
	s, err := Open(ctx, url, Options{migrateTo: version})
	if err != nil {
		return err
	}
	return s.Close()
}

// EncodeOutcome is how an outcome is stored, for tests that write the rows
// an older pipectl wrote.
func EncodeOutcome(out component.Outcome) ([]byte, error) { return encodeOutcome(out) }
