package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/pipelines/component"
)

// The key log (component.KeyLog): one row per (scope, key) in seen_keys.
// A claim is an upsert that takes the row only when it may be claimed
// (claimable), so "is it new?" and "record it" are one statement, and of
// two runs claiming one key at once the database lets exactly one in.

// A row may be claimed by run ?5 at ?3 when it has expired, or when it is
// held by another run that has not claimed anything since ?6 (at minus
// component.ClaimLease): every claim renews its run's row in claim_runs,
// so a run that goes on claiming keeps its claims however long it runs.
// The claim's own time counts too: PostgreSQL re-checks a row it waited
// for with the statement's older snapshot, in which the claiming run's
// first heartbeat may not be visible yet.
var (
	claimableSQLite = `seen_keys.expires_at <= ?3 OR (seen_keys.run <> '' AND seen_keys.run <> ?5 AND NOT ` + held("?6") + `)`
	claimablePG     = `seen_keys.expires_at <= $3 OR (seen_keys.run <> '' AND seen_keys.run <> $5 AND NOT ` + held("$6") + `)`
)

// held is the condition that a row's claim still holds its key at the
// lease's start, the parameter stale: the claim is recent, or its run has
// claimed recently.
func held(stale string) string {
	return `(seen_keys.claimed_at > ` + stale + ` OR EXISTS (SELECT 1 FROM claim_runs c WHERE c.run = seen_keys.run AND c.alive_at > ` + stale + `))`
}

// neverExpires stands for the expiry of keys kept with no ttl: after any
// time a run has, in both databases' range.
var neverExpires = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

func checkClaim(scope, run string, limit int) error {
	switch {
	case scope == "":
		return errors.New("claim keys: the scope is empty")
	case run == "":
		return fmt.Errorf("claim keys of %s: the run is unnamed", scope)
	case limit < 1:
		return fmt.Errorf("claim keys of %s: at most %d keys to keep; want at least 1", scope, limit)
	}
	return nil
}

func expiry(at time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return neverExpires
	}
	return at.Add(ttl)
}

// keyPruning decides when a scope's keys are pruned: at a process's first
// claim in the scope, then each time max/16 more keys (at least 64) have
// been claimed. Pruning deletes the expired keys, the claims of runs taken
// for dead (none claimed for the lease), and the oldest beyond max;
// reading a scope's newest max keys costs O(max), so doing it every max/16
// claims costs O(16) a claim.
type keyPruning struct {
	mu      sync.Mutex
	claimed map[string]int
}

func (p *keyPruning) due(scope string, n, limit int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claimed == nil {
		p.claimed = map[string]int{}
	}
	c, ok := p.claimed[scope]
	c += n
	if !ok || c >= max(64, limit/16) {
		p.claimed[scope] = 0
		return true
	}
	p.claimed[scope] = c
	return false
}

func (s *sqliteStore) ClaimKeys(ctx context.Context, scope, run string, keys []string, at time.Time, ttl time.Duration, limit int) ([]bool, error) {
	if err := checkClaim(scope, run, limit); err != nil {
		return nil, err
	}
	now, exp, stale := at.UnixMicro(), expiry(at, ttl).UnixMicro(), at.Add(-component.ClaimLease).UnixMicro()
	prune := s.pruning.due(scope, len(keys), limit)
	fresh := make([]bool, len(keys))
	err := s.write(ctx, func() error {
		if _, err := s.conn.ExecContext(ctx, `INSERT INTO claim_runs (run, alive_at) VALUES (?, ?)
			ON CONFLICT (run) DO UPDATE SET alive_at = excluded.alive_at`, run, now); err != nil {
			return err
		}
		for i, k := range keys {
			res, err := s.st.claimKey.ExecContext(ctx, scope, k, now, exp, run, stale)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			fresh[i] = n > 0
		}
		if !prune {
			return nil
		}
		if _, err := s.conn.ExecContext(ctx, `DELETE FROM seen_keys WHERE scope = ?1
			AND (expires_at <= ?2 OR (run <> '' AND NOT `+held("?3")+`))`, scope, now, stale); err != nil {
			return err
		}
		if _, err := s.conn.ExecContext(ctx, `DELETE FROM claim_runs WHERE alive_at <= ?`, stale); err != nil {
			return err
		}
		_, err := s.conn.ExecContext(ctx, `DELETE FROM seen_keys WHERE scope = ?1 AND key IN (
			SELECT key FROM seen_keys WHERE scope = ?1 ORDER BY claimed_at DESC, key DESC LIMIT -1 OFFSET ?2)`, scope, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim keys of %s: %w", scope, err)
	}
	return fresh, nil
}

// The settling statements say run <> ” so the planners use the partial
// index seen_keys_run.
const (
	keepClaims = `UPDATE seen_keys SET run = '' WHERE run = ?1 AND run <> ''`
	dropClaims = `DELETE FROM seen_keys WHERE run = ?1 AND run <> ''`
)

func (s *sqliteStore) SettleKeys(ctx context.Context, run string, keep bool) error {
	q := dropClaims
	if keep {
		q = keepClaims
	}
	err := s.write(ctx, func() error {
		if _, err := s.conn.ExecContext(ctx, q, run); err != nil {
			return err
		}
		_, err := s.conn.ExecContext(ctx, `DELETE FROM claim_runs WHERE run = ?`, run)
		return err
	})
	if err != nil {
		return fmt.Errorf("settle the keys of run %s: %w", run, err)
	}
	return nil
}

func (s *sqliteStore) SeenKeys(ctx context.Context, scope string, keys []string, at time.Time) ([]bool, error) {
	now, stale := at.UnixMicro(), at.Add(-component.ClaimLease).UnixMicro()
	seen := make([]bool, len(keys))
	for i, k := range keys {
		var one int
		err := s.rdb.QueryRowContext(ctx, `SELECT 1 FROM seen_keys WHERE scope = ?1 AND key = ?2 AND expires_at > ?3
			AND (run = '' OR `+held("?4")+`)`, scope, k, now, stale).Scan(&one)
		switch {
		case err == nil:
			seen[i] = true
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("keys of %s: %w", scope, err)
		}
	}
	return seen, nil
}

func (s *pgStore) ClaimKeys(ctx context.Context, scope, run string, keys []string, at time.Time, ttl time.Duration, limit int) ([]bool, error) {
	if err := checkClaim(scope, run, limit); err != nil {
		return nil, err
	}
	exp, stale := expiry(at, ttl), at.Add(-component.ClaimLease)
	prune := s.pruning.due(scope, len(keys), limit)
	fresh := make([]bool, len(keys))
	// Rows are locked in key order, so claims of overlapping keys by
	// several processes wait for each other instead of deadlocking. The
	// sort is stable: of a key repeated in keys, the first is the new one.
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	err := retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO claim_runs (run, alive_at) VALUES ($1, $2)
				ON CONFLICT (run) DO UPDATE SET alive_at = excluded.alive_at`, run, at)
			for _, i := range order {
				b.Queue(`INSERT INTO seen_keys (scope, key, claimed_at, expires_at, run) VALUES ($1, $2, $3, $4, $5)
					ON CONFLICT (scope, key) DO UPDATE SET claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, run = excluded.run
					WHERE `+claimablePG, scope, keys[i], at, exp, run, stale)
			}
			if prune {
				b.Queue(`DELETE FROM seen_keys WHERE scope = $1 AND (expires_at <= $2 OR (run <> '' AND NOT `+held("$3")+`))`,
					scope, at, stale)
				b.Queue(`DELETE FROM claim_runs WHERE alive_at <= $1`, stale)
				b.Queue(`DELETE FROM seen_keys WHERE scope = $1 AND key IN (
					SELECT key FROM seen_keys WHERE scope = $1 ORDER BY claimed_at DESC, key DESC OFFSET $2)`, scope, limit)
			}
			br := tx.SendBatch(ctx, b)
			if _, err := br.Exec(); err != nil { // the run's heartbeat
				br.Close()
				return err
			}
			for _, i := range order {
				tag, err := br.Exec()
				if err != nil {
					br.Close()
					return err
				}
				fresh[i] = tag.RowsAffected() > 0
			}
			return br.Close()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("claim keys of %s: %w", scope, err)
	}
	return fresh, nil
}

func (s *pgStore) SettleKeys(ctx context.Context, run string, keep bool) error {
	// The rows are locked in key order first, as claims lock them, so a
	// settle and claims of the same keys wait for each other instead of
	// deadlocking.
	const mine = `(scope, key) IN (SELECT scope, key FROM seen_keys WHERE run = $1 AND run <> '' ORDER BY scope, key FOR UPDATE)`
	q := `DELETE FROM seen_keys WHERE ` + mine
	if keep {
		q = `UPDATE seen_keys SET run = '' WHERE ` + mine
	}
	err := retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, q, run); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM claim_runs WHERE run = $1`, run)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("settle the keys of run %s: %w", run, err)
	}
	return nil
}

func (s *pgStore) SeenKeys(ctx context.Context, scope string, keys []string, at time.Time) ([]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT key FROM seen_keys WHERE scope = $1 AND key = ANY($2) AND expires_at > $3
		AND (run = '' OR `+held("$4")+`)`, scope, nonNil(keys), at, at.Add(-component.ClaimLease))
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", scope, err)
	}
	defer rows.Close()
	found, err := collect(rows, func(scan scanFunc) (string, error) {
		var k string
		return k, scan(&k)
	})
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", scope, err)
	}
	seen := make([]bool, len(keys))
	for i, k := range keys {
		seen[i] = slices.Contains(found, k)
	}
	return seen, nil
}
