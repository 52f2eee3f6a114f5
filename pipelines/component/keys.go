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
// A run claims the keys of the records it passes and settles its claims
// when it ends: kept when the run succeeded, so the keys count as seen
// from then on; dropped when it failed, so the records pass again when
// they are delivered again. Until then the claims count as seen for every
// run, which keeps two processes from passing one key. A run that stops
// claiming for ClaimLease (it died) loses its unsettled claims to the next
// run that claims the keys. What this does not cover: a copy of a record
// arriving while another run holds its key unsettled is dropped as a
// duplicate even if that run fails later, and copies arriving within the
// lease after a run died are dropped too.
//
// Keys are grouped by scope (a pipeline's step, or a scope several
// pipelines share). A key expires ttl after it was claimed (never when ttl
// is 0), by the ttl of the step that claimed it, and a scope keeps about
// its newest max keys: the oldest beyond max are deleted from time to
// time, once max/16 more (at least 64) have been claimed by one process.
type KeyLog interface {
	// ClaimKeys claims keys in scope for run at `at` and reports, for
	// each, whether it is new: not recorded, expired, or held unsettled
	// by another run that has not claimed for ClaimLease. A key
	// repeated within keys is new at most once. The claims are one
	// transaction, and of two runs claiming one key at once exactly one
	// finds it new.
	ClaimKeys(ctx context.Context, scope, run string, keys []string, at time.Time, ttl time.Duration, max int) ([]bool, error)
	// SettleKeys ends run's claims: kept, they count as seen from now on;
	// not kept, they are deleted.
	SettleKeys(ctx context.Context, run string, keep bool) error
	// SeenKeys reports, for each key, whether ClaimKeys by a new run at
	// `at` would find it already recorded, without recording anything:
	// dry runs ask it.
	SeenKeys(ctx context.Context, scope string, keys []string, at time.Time) ([]bool, error)
}

// ClaimLease is how long a run's unsettled claims keep their keys from
// other runs after it last claimed: every claim renews all of them.
const ClaimLease = time.Hour

// RunEnder is a step told how its run ended, once every sink has closed:
// ok when no record failed without an error output to take it and the run
// returned no error. A persistent dedupe settles its key claims here.
type RunEnder interface {
	EndRun(ctx context.Context, ok bool) error
}
