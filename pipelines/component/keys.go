package component

import (
	"context"
	"time"
)

// KeyLog remembers keys across runs and processes: the memory of a dedupe
// step with `persist: true`. It lives in the state store, so a webhook
// delivered again after a restart, or to another process sharing the
// store, is still recognised as seen.
//
// Keys are grouped by scope (a pipeline's step, or a scope several
// pipelines share). A key is forgotten ttl after it was first seen (never
// when ttl is 0), and a scope keeps about its newest max keys: the oldest
// beyond max are deleted from time to time, at the latest once max/16 more
// keys (at least 64) have been claimed.
type KeyLog interface {
	// ClaimKeys records keys in scope as first seen at `at` and reports,
	// for each, whether it is new: not recorded yet, or recorded ttl or
	// longer before. A key repeated within keys is new at most once.
	// The claims are one transaction: all are recorded or none, and of
	// two processes claiming one key at once exactly one finds it new.
	ClaimKeys(ctx context.Context, scope string, keys []string, at time.Time, ttl time.Duration, max int) ([]bool, error)
	// SeenKeys reports, for each key, whether ClaimKeys at `at` would find
	// it already recorded, without recording anything: dry runs ask it.
	SeenKeys(ctx context.Context, scope string, keys []string, at time.Time, ttl time.Duration) ([]bool, error)
}
