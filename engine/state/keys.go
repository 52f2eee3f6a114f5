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
)

// The key log (component.KeyLog): one row per (scope, key) in seen_keys,
// holding when the key was first seen. A claim is an upsert that succeeds
// only for a key not there yet or expired, so "is it new?" and "record
// it" are one statement, and of two processes claiming one key at once
// the database lets exactly one in.

func checkClaim(scope string, limit int) error {
	if scope == "" {
		return errors.New("claim keys: the scope is empty")
	}
	if limit < 1 {
		return fmt.Errorf("claim keys of %s: at most %d keys to keep; want at least 1", scope, limit)
	}
	return nil
}

// expiredBefore is the first-seen time at or before which a key counts as
// forgotten: ttl before at, or never when ttl is 0.
func expiredBefore(at time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) // before any key, in both databases' range
	}
	return at.Add(-ttl)
}

// keyPruning decides when a scope's keys are pruned: at a process's first
// claim in the scope, then each time max/16 more keys (at least 64) have
// been claimed. Pruning deletes the expired keys and the oldest beyond
// max; reading a scope's newest max keys costs O(max), so doing it every
// max/16 claims costs O(16) a claim, and a scope holds at most a sixteenth
// more than max between prunings.
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

func (s *sqliteStore) ClaimKeys(ctx context.Context, scope string, keys []string, at time.Time, ttl time.Duration, limit int) ([]bool, error) {
	if err := checkClaim(scope, limit); err != nil {
		return nil, err
	}
	cutoff := expiredBefore(at, ttl).UnixMicro()
	prune := s.pruning.due(scope, len(keys), limit)
	fresh := make([]bool, len(keys))
	err := s.write(ctx, func() error {
		for i, k := range keys {
			res, err := s.st.claimKey.ExecContext(ctx, scope, k, at.UnixMicro(), cutoff)
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
		if _, err := s.conn.ExecContext(ctx, `DELETE FROM seen_keys WHERE scope = ? AND first_seen <= ?`, scope, cutoff); err != nil {
			return err
		}
		_, err := s.conn.ExecContext(ctx, `DELETE FROM seen_keys WHERE scope = ?1 AND key IN (
			SELECT key FROM seen_keys WHERE scope = ?1 ORDER BY first_seen DESC, key DESC LIMIT -1 OFFSET ?2)`, scope, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim keys of %s: %w", scope, err)
	}
	return fresh, nil
}

func (s *sqliteStore) SeenKeys(ctx context.Context, scope string, keys []string, at time.Time, ttl time.Duration) ([]bool, error) {
	cutoff := expiredBefore(at, ttl).UnixMicro()
	seen := make([]bool, len(keys))
	for i, k := range keys {
		var one int
		switch err := s.rdb.QueryRowContext(ctx, `SELECT 1 FROM seen_keys WHERE scope = ? AND key = ? AND first_seen > ?`, scope, k, cutoff).Scan(&one); {
		case err == nil:
			seen[i] = true
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("keys of %s: %w", scope, err)
		}
	}
	return seen, nil
}

func (s *pgStore) ClaimKeys(ctx context.Context, scope string, keys []string, at time.Time, ttl time.Duration, limit int) ([]bool, error) {
	if err := checkClaim(scope, limit); err != nil {
		return nil, err
	}
	cutoff := expiredBefore(at, ttl)
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
			for _, i := range order {
				b.Queue(`INSERT INTO seen_keys (scope, key, first_seen) VALUES ($1, $2, $3)
					ON CONFLICT (scope, key) DO UPDATE SET first_seen = excluded.first_seen WHERE seen_keys.first_seen <= $4`,
					scope, keys[i], at, cutoff)
			}
			if prune {
				b.Queue(`DELETE FROM seen_keys WHERE scope = $1 AND first_seen <= $2`, scope, cutoff)
				b.Queue(`DELETE FROM seen_keys WHERE scope = $1 AND key IN (
					SELECT key FROM seen_keys WHERE scope = $1 ORDER BY first_seen DESC, key DESC OFFSET $2)`, scope, limit)
			}
			br := tx.SendBatch(ctx, b)
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

func (s *pgStore) SeenKeys(ctx context.Context, scope string, keys []string, at time.Time, ttl time.Duration) ([]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT key FROM seen_keys WHERE scope = $1 AND key = ANY($2) AND first_seen > $3`,
		scope, nonNil(keys), expiredBefore(at, ttl))
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
