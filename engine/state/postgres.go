package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pipectl/pipectl/pipelines/component"
)

// pgStore is the shared store: every process using the same database sees
// and changes the same stock. Transactions run at READ COMMITTED; what must
// not change under a decision is locked (stock rows FOR UPDATE in a fixed
// order, idempotency keys by inserting them first).
type pgStore struct {
	pool      *pgxpool.Pool
	clock     component.Clock
	pruning   keyPruning
	migrateTo int
}

// migrationLock is the advisory lock that serializes migrations of one
// database by several processes starting at once.
const migrationLock = 0x70697065 // "pipe"

// maxAttempts bounds the retries of a transaction that lost a race.
const maxAttempts = 20

func openPostgres(ctx context.Context, url string, opts Options) (_ Store, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("state url %s: %w", redactURL(url), redactError(url, err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(url), redactError(url, err))
	}
	s := &pgStore{pool: pool, clock: opts.Clock, migrateTo: opts.migrateTo}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(url), redactError(url, err))
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", redactURL(url), redactError(url, err))
	}
	return s, nil
}

func (s *pgStore) migrate(ctx context.Context) error {
	all, err := migrations("postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		var applied int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return err
		}
		todo, err := pending(all, applied, s.migrateTo)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
			}
			if m.version == backorderedVersion {
				if err := backfillBackorderedPG(ctx, tx); err != nil {
					return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, s.clock.Now()); err != nil {
				return err
			}
		}
		return nil
	})
}

// retryable reports whether a transaction failed only because it lost a
// race: a deadlock, a serialization failure, or a row it meant to create
// created meanwhile by another.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505":
			return true
		}
	}
	return false
}

// retry runs fn until it succeeds, fails for good, or has lost
// maxAttempts races, waiting a little, at random, between attempts.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

const pgReserved = `SELECT sku, location, SUM(qty)::bigint FROM reservations
	WHERE sku = ANY($1) AND expires_at > $2 AND NOT (ref = $3 AND $3 <> '') GROUP BY sku, location`

func (s *pgStore) Apply(ctx context.Context, req component.ApplyRequest, decide func(component.Snapshot) (component.Outcome, error)) (component.Outcome, bool, error) {
	skus, err := requestSKUs(req)
	if err != nil {
		return component.Outcome{}, false, err
	}
	var out component.Outcome
	var replayed bool
	var decideErr error
	err = retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
			out, replayed, decideErr, err = s.applyInTx(ctx, tx, req, skus, decide)
			return err
		})
	})
	switch {
	case decideErr != nil:
		return component.Outcome{}, false, decideErr
	case err != nil:
		return component.Outcome{}, false, fmt.Errorf("apply %s: %w", req.IdempotencyKey, err)
	}
	return out, replayed, nil
}

// ApplyGroup applies reqs in one transaction, each in a savepoint rolled
// back alone when its event fails. It first locks the stock rows of every
// request's SKUs, in (sku, location) order, so two groups running at once
// wait for each other rather than deadlock; a group that still loses a race
// is retried whole.
func (s *pgStore) ApplyGroup(ctx context.Context, reqs []component.ApplyRequest, decide func(int, component.Snapshot) (component.Outcome, error)) ([]component.Applied, error) {
	res := make([]component.Applied, len(reqs))
	skus := make([][]string, len(reqs))
	var all []string
	for i, req := range reqs {
		var err error
		if skus[i], err = requestSKUs(req); err != nil {
			res[i].Err = err
			continue
		}
		all = append(all, skus[i]...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	err := retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM stock WHERE sku = ANY($1) ORDER BY sku, location FOR UPDATE`, nonNil(all)); err != nil {
				return err
			}
			for i, req := range reqs {
				if skus[i] == nil && res[i].Err != nil {
					continue
				}
				res[i] = component.Applied{}
				if _, err := tx.Exec(ctx, `SAVEPOINT event`); err != nil {
					return err
				}
				out, replayed, decideErr, err := s.applyInTx(ctx, tx, req, skus[i], func(snap component.Snapshot) (component.Outcome, error) { return decide(i, snap) })
				switch {
				case err != nil && decideErr == nil && retryable(err):
					return err
				case decideErr != nil:
					res[i].Err = decideErr
				case err != nil:
					res[i].Err = fmt.Errorf("apply %s: %w", req.IdempotencyKey, err)
				default:
					res[i].Outcome, res[i].Replayed = out, replayed
				}
				undo := `RELEASE SAVEPOINT event`
				if res[i].Err != nil {
					undo = `ROLLBACK TO SAVEPOINT event`
				}
				if _, err := tx.Exec(ctx, undo); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("apply a group of %d events: %w", len(reqs), err)
	}
	return res, nil
}

// applyInTx applies one event inside tx. decideErr is decide's own error.
func (s *pgStore) applyInTx(ctx context.Context, tx pgx.Tx, req component.ApplyRequest, skus []string, decide func(component.Snapshot) (component.Outcome, error)) (out component.Outcome, replayed bool, decideErr, err error) {
	now := s.clock.Now()
	// One round trip: lock the rows in (sku, location) order, then
	// claim the key (waiting for a transaction holding it), then, in a
	// statement that starts after the locks are held, read the
	// reservations on them. Every transaction takes its locks in this
	// order, rows before keys, as ApplyGroup does: a key claimed first
	// would let an Apply holding key K wait for a group's rows while the
	// group, holding them, waits for K. A replay so waits for the rows
	// too, which costs it the time of the orders ahead of it.
	b := &pgx.Batch{}
	b.Queue(`SELECT s.sku, s.location, s.on_hand, s.committed, s.safety_stock, s.backordered FROM stock s
		WHERE s.sku = ANY($1) ORDER BY s.sku, s.location FOR UPDATE OF s`, skus)
	b.Queue(`INSERT INTO applied (key, ref, applied_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`, req.IdempotencyKey, req.Ref, now)
	b.Queue(pgReserved, skus, now, req.Ref)
	if req.LegacyKey != "" {
		b.Queue(`SELECT outcome, explanation, COALESCE(fingerprint, '') FROM applied WHERE key = $1 AND outcome IS NOT NULL`, req.LegacyKey)
	}
	br := tx.SendBatch(ctx, b)
	rows, err := scanStock(br)
	if err != nil {
		br.Close()
		return out, replayed, nil, err
	}
	claim, err := br.Exec()
	if err != nil {
		br.Close()
		return out, replayed, nil, err
	}
	if err := addReserved(br, rows); err != nil {
		br.Close()
		return out, replayed, nil, err
	}
	var legacy storedEvent
	if req.LegacyKey != "" {
		err := br.QueryRow().Scan(&legacy.outcome, &legacy.explanation, &legacy.fingerprint)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			br.Close()
			return out, replayed, nil, err
		}
	}
	if err := br.Close(); err != nil {
		return out, replayed, nil, err
	}
	if claim.RowsAffected() == 0 {
		var ev storedEvent
		if err := tx.QueryRow(ctx, `SELECT outcome, explanation, COALESCE(fingerprint, '') FROM applied WHERE key = $1`, req.IdempotencyKey).Scan(&ev.outcome, &ev.explanation, &ev.fingerprint); err != nil {
			return out, replayed, nil, err
		}
		if ev.outcome == nil {
			return out, replayed, nil, fmt.Errorf("the key is claimed by a transaction that wrote no outcome")
		}
		out, err = ev.replay(req.IdempotencyKey, req.Fingerprint)
		return out, err == nil, nil, err
	}
	if legacy.outcome != nil {
		// Applied by an older pipectl under the unscoped key: replay it,
		// and give back the claim of the new key.
		if _, err := tx.Exec(ctx, `DELETE FROM applied WHERE key = $1`, req.IdempotencyKey); err != nil {
			return out, replayed, nil, err
		}
		out, err = legacy.replay(req.LegacyKey, req.Fingerprint)
		return out, err == nil, nil, err
	}
	snap := snapshot(now, rows)
	if req.Ledger != "" {
		if snap.Ledger, err = pgOrderMovements(ctx, tx, req.Ledger); err != nil {
			return out, replayed, nil, err
		}
	}
	if out, decideErr = decide(snap); decideErr != nil {
		return out, false, decideErr, decideErr
	}
	changes, moves, err := plan(req, skus, rows, out)
	if err != nil {
		return out, replayed, nil, err
	}
	enc, err := encodeOutcome(out)
	if err != nil {
		return out, replayed, nil, err
	}
	b = &pgx.Batch{}
	for _, c := range changes {
		if c.before.exists {
			b.Queue(`UPDATE stock SET on_hand = on_hand + $1, committed = committed + $2, backordered = GREATEST(0, backordered + $6),
				uncovered = LEAST(GREATEST(0, committed + $2 - GREATEST(0, backordered + $6) - (on_hand + $1)), uncovered + $7),
				updated_at = $3 WHERE sku = $4 AND location = $5`,
				c.dOnHand, c.dCommitted, now, c.before.sku, c.before.location, c.dBackordered, c.uncoveredGrowth())
		} else {
			b.Queue(`INSERT INTO stock (sku, location, on_hand, committed, safety_stock, backordered, uncovered, updated_at)
				VALUES ($1, $2, $3, $4, 0, GREATEST(0, $6::bigint), LEAST(GREATEST(0, $4 - GREATEST(0, $6::bigint) - $3), $7::bigint), $5)`,
				c.before.sku, c.before.location, c.dOnHand, c.dCommitted, now, c.dBackordered, c.uncoveredGrowth())
		}
	}
	if len(moves) > 0 {
		queueMovements(b, moves, req.IdempotencyKey, now)
	}
	if out.ReleaseReservations && req.Ref != "" {
		// In id order, as ExpireReservations deletes, so the two never
		// wait for each other's rows crosswise.
		b.Queue(`DELETE FROM reservations WHERE id IN (SELECT id FROM reservations WHERE ref = $1 ORDER BY id FOR UPDATE)`, req.Ref)
	}
	var expl []byte
	if len(out.Explanation) > 0 {
		expl = out.Explanation
	}
	b.Queue(`UPDATE applied SET outcome = $2, explanation = $3, fingerprint = NULLIF($4, '') WHERE key = $1`, req.IdempotencyKey, enc, expl, req.Fingerprint)
	out.Fingerprint = req.Fingerprint
	br = tx.SendBatch(ctx, b)
	for _, c := range changes {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return out, replayed, nil, oversellError(c, err, pgOversell(err))
		}
	}
	return out, replayed, nil, br.Close()
}

// pgOversell reports whether err is the check stock_no_oversell refusing a
// row (SQLSTATE 23514, check_violation).
func pgOversell(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && pe.ConstraintName == "stock_no_oversell"
}

func scanStock(br pgx.BatchResults) ([]stockRow, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []stockRow
	for rows.Next() {
		r := stockRow{exists: true}
		if err := rows.Scan(&r.sku, &r.location, &r.onHand, &r.committed, &r.safety, &r.backordered); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// addReserved reads the reservation sums of a batch and adds them to rows.
func addReserved(br pgx.BatchResults, rows []stockRow) error {
	res, err := br.Query()
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		var sku, loc string
		var n int64
		if err := res.Scan(&sku, &loc, &n); err != nil {
			return err
		}
		for i := range rows {
			if rows[i].sku == sku && rows[i].location == loc {
				rows[i].reserved = n
			}
		}
	}
	return res.Err()
}

func queueMovements(b *pgx.Batch, moves []movement, key string, now time.Time) {
	n := len(moves)
	skus, locs, buckets, reasons, refs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	deltas := make([]int64, n)
	for i, m := range moves {
		skus[i], locs[i], buckets[i], deltas[i], reasons[i], refs[i] = m.sku, m.location, m.bucket, m.delta, m.reason, m.ref
	}
	b.Queue(`INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at)
		SELECT u.sku, u.location, u.bucket, u.delta, u.reason, u.ref, $7, $8
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[]) WITH ORDINALITY
			AS u(sku, location, bucket, delta, reason, ref, n) ORDER BY u.n`,
		skus, locs, buckets, deltas, reasons, refs, key, now)
}

// lockRow locks one stock row, creating it at zero if missing (create),
// and reads it with its reservations. A row it created reads as not
// existing before.
func (s *pgStore) lockRow(ctx context.Context, tx pgx.Tx, sku, location string, now time.Time, create bool) (stockRow, error) {
	created := false
	if create {
		tag, err := tx.Exec(ctx, `INSERT INTO stock (sku, location, updated_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, sku, location, now)
		if err != nil {
			return stockRow{}, err
		}
		created = tag.RowsAffected() == 1
	}
	r := stockRow{sku: sku, location: location, exists: !created}
	err := tx.QueryRow(ctx, `SELECT on_hand, committed, safety_stock, backordered FROM stock WHERE sku = $1 AND location = $2 FOR UPDATE`, sku, location).
		Scan(&r.onHand, &r.committed, &r.safety, &r.backordered)
	if errors.Is(err, pgx.ErrNoRows) {
		return stockRow{sku: sku, location: location}, nil
	}
	if err != nil {
		return r, err
	}
	err = tx.QueryRow(ctx, `SELECT COALESCE(SUM(qty), 0)::bigint FROM reservations WHERE sku = $1 AND location = $2 AND expires_at > $3`, sku, location, now).
		Scan(&r.reserved)
	return r, err
}

func (s *pgStore) qtyDecimal(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sku string) (bool, error) {
	var d bool
	err := q.QueryRow(ctx, `SELECT qty_decimal FROM skus WHERE sku = $1`, sku).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return d, err
}

func (s *pgStore) SetLevel(ctx context.Context, u component.LevelUpdate) (bool, error) {
	return s.feed(ctx, u, true)
}

func (s *pgStore) AdjustLevel(ctx context.Context, u component.LevelUpdate) (bool, error) {
	return s.feed(ctx, u, false)
}

func (s *pgStore) feed(ctx context.Context, u component.LevelUpdate, set bool) (bool, error) {
	f, err := checkUpdate(u, set)
	if err != nil {
		return false, err
	}
	applied := false
	var before, after int64
	var existed bool
	fingerprint := feedFingerprint(f, set)
	err = retry(ctx, func() error {
		applied = false
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			now := s.clock.Now()
			if f.Key != "" {
				tag, err := tx.Exec(ctx, `INSERT INTO feed_applied (key, applied_at, fingerprint) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, f.Key, now, fingerprint)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return feedSeen(ctx, tx, f.Key, fingerprint)
				}
				if f.LegacyKey != "" {
					var stored string
					switch err := tx.QueryRow(ctx, `SELECT COALESCE(fingerprint, '') FROM feed_applied WHERE key = $1`, f.LegacyKey).Scan(&stored); {
					case err == nil:
						if err := conflictError(f.LegacyKey, stored, fingerprint); err != nil {
							return err
						}
						// Applied under the unscoped key: give back the claim.
						_, err = tx.Exec(ctx, `DELETE FROM feed_applied WHERE key = $1`, f.Key)
						return err
					case !errors.Is(err, pgx.ErrNoRows):
						return err
					}
				}
			}
			dec, err := s.qtyDecimal(ctx, tx, f.SKU)
			if err != nil {
				return err
			}
			r, err := s.lockRow(ctx, tx, f.SKU, f.Location, now, true)
			if err != nil {
				return err
			}
			onHand, safety := r.onHand, r.safety
			old := &onHand
			if f.Bucket == component.SafetyStock {
				old = &safety
			}
			v, err := feedResult(f, set, *old, dec)
			if err != nil {
				return err
			}
			delta := v - *old
			before, after, existed = *old, v, r.exists
			*old = v
			// A count or feed is a fact: it is recorded even when it
			// leaves allocated units without stock, which uncovered then
			// holds (the check stock_no_oversell).
			if _, err := tx.Exec(ctx, `UPDATE stock SET on_hand = $3, safety_stock = $4, uncovered = GREATEST(0, committed - backordered - $3), updated_at = $5 WHERE sku = $1 AND location = $2`,
				f.SKU, f.Location, onHand, safety, now); err != nil {
				return err
			}
			if delta != 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
					f.SKU, f.Location, string(f.Bucket), delta, feedReason(f, set), f.Ref, f.Key, now); err != nil {
					return err
				}
				if f.By != nil {
					if err := s.audit(ctx, tx, levelChange(f, r.exists, v-delta, v, now)); err != nil {
						return err
					}
				}
			}
			applied = true
			return nil
		})
	})
	if err != nil {
		return false, fmt.Errorf("update level of %s at %s: %w", f.SKU, f.Location, err)
	}
	if applied && u.Applied != nil {
		u.Applied(fromUnits(before), fromUnits(after), existed)
	}
	return applied, nil
}

func (s *pgStore) Levels(ctx context.Context, skus []string) ([]component.Level, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+levelColumns+`,
		(SELECT COALESCE(SUM(r.qty), 0)::bigint FROM reservations r WHERE r.sku = s.sku AND r.location = s.location AND r.expires_at > $2)
		FROM stock s WHERE cardinality($1::text[]) = 0 OR s.sku = ANY($1) ORDER BY s.sku, s.location`, nonNil(skus), s.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("read levels: %w", err)
	}
	defer rows.Close()
	out, err := collect(rows, scanLevel)
	if err != nil {
		return nil, fmt.Errorf("read levels: %w", err)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *pgStore) Reserve(ctx context.Context, r component.Reservation) (bool, error) {
	n, err := checkReservation(r)
	if err != nil {
		return false, err
	}
	created := false
	err = retry(ctx, func() error {
		created = false
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var one int
			switch err := tx.QueryRow(ctx, `SELECT 1 FROM reservations WHERE id = $1`, r.ID).Scan(&one); {
			case err == nil:
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			dec, err := s.qtyDecimal(ctx, tx, r.SKU)
			if err != nil {
				return err
			}
			now := s.clock.Now()
			row, err := s.lockRow(ctx, tx, r.SKU, r.Location, now, false)
			if err != nil {
				return err
			}
			if err := reserveGuard(r, row, n, dec); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO reservations (id, sku, location, qty, expires_at, ref, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				r.ID, r.SKU, r.Location, n, r.ExpiresAt, r.Ref, now); err != nil {
				return err
			}
			created = true
			return nil
		})
	})
	if err != nil && !errors.Is(err, component.ErrInsufficientStock) && !errors.Is(err, component.ErrInvalidQuantity) {
		err = fmt.Errorf("reserve %s: %w", r.ID, err)
	}
	return created, err
}

func (s *pgStore) Release(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM reservations WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("release %s: %w", id, err)
	}
	return tag.RowsAffected() > 0, nil
}

func (s *pgStore) Reservations(ctx context.Context, ref string) ([]component.Reservation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+reservationColumns+` FROM reservations WHERE ref = $1 ORDER BY id`, ref)
	if err != nil {
		return nil, fmt.Errorf("reservations of %s: %w", ref, err)
	}
	defer rows.Close()
	out, err := collect(rows, scanReservation)
	if err != nil {
		return nil, fmt.Errorf("reservations of %s: %w", ref, err)
	}
	return out, nil
}

func (s *pgStore) ExpireReservations(ctx context.Context) (int, error) {
	// Locked in id order, as Apply deletes an order's reservations: two
	// multi-row deletes locking in index order (expiry here, ref there)
	// could deadlock.
	tag, err := s.pool.Exec(ctx, `DELETE FROM reservations WHERE id IN (
		SELECT id FROM reservations WHERE expires_at <= $1 ORDER BY id FOR UPDATE)`, s.clock.Now())
	if err != nil {
		return 0, fmt.Errorf("expire reservations: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (s *pgStore) Locations(ctx context.Context) ([]component.Location, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+locationColumns+` FROM locations ORDER BY priority, id`)
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	defer rows.Close()
	out, err := collect(rows, scanLocation)
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	return out, nil
}

// lockRule serializes changes of one rule, so two writers cannot both
// record the same old value.
func lockRule(ctx context.Context, tx pgx.Tx, rule string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, rule)
	return err
}

func (s *pgStore) SetLocation(ctx context.Context, l component.Location, by component.Change) error {
	if err := checkLocation(l); err != nil {
		return err
	}
	if by.Actor == "" {
		return fmt.Errorf("set location %s: who changes it is required", l.ID)
	}
	rule := "location/" + l.ID
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockRule(ctx, tx, rule); err != nil {
			return err
		}
		var old *component.Location
		switch o, err := scanLocation(tx.QueryRow(ctx, `SELECT `+locationColumns+` FROM locations WHERE id = $1`, l.ID).Scan); {
		case err == nil:
			old = &o
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		before, after := locationJSON(old), locationJSON(&l)
		if before == after {
			return nil
		}
		lat, lng := coords(l)
		if _, err := tx.Exec(ctx, `INSERT INTO locations (`+locationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, priority = excluded.priority, market = excluded.market,
			lat = excluded.lat, lng = excluded.lng, pickup = excluded.pickup, disabled = excluded.disabled`,
			l.ID, l.Name, l.Priority, l.Market, lat, lng, l.Pickup, l.Disabled); err != nil {
			return err
		}
		return s.audit(ctx, tx, component.RuleChange{Rule: rule, Actor: by.Actor, Old: before, New: after, Reason: by.Reason})
	})
	if err != nil {
		return fmt.Errorf("set location %s: %w", l.ID, err)
	}
	return nil
}

func (s *pgStore) SKUs(ctx context.Context, skus []string) (map[string]component.SKU, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+skuColumns+` FROM skus WHERE sku = ANY($1)`, nonNil(skus))
	if err != nil {
		return nil, fmt.Errorf("SKU settings: %w", err)
	}
	defer rows.Close()
	list, err := collect(rows, scanSKU)
	if err != nil {
		return nil, fmt.Errorf("SKU settings: %w", err)
	}
	out := make(map[string]component.SKU, len(list))
	for _, c := range list {
		out[c.SKU] = c
	}
	return out, nil
}

func (s *pgStore) SetSKU(ctx context.Context, c component.SKU, by component.Change) error {
	if c.SKU == "" {
		return errors.New("set SKU: the SKU is empty")
	}
	if by.Actor == "" {
		return fmt.Errorf("set SKU %s: who changes it is required", c.SKU)
	}
	comps, err := componentsJSON(c.Components)
	if err != nil {
		return fmt.Errorf("set SKU %s: %w", c.SKU, err)
	}
	rule := "sku/" + c.SKU
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockRule(ctx, tx, rule); err != nil {
			return err
		}
		var old *component.SKU
		switch o, err := scanSKU(tx.QueryRow(ctx, `SELECT `+skuColumns+` FROM skus WHERE sku = $1`, c.SKU).Scan); {
		case err == nil:
			old = &o
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		before, after := skuJSON(old), skuJSON(&c)
		if before == after {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO skus (`+skuColumns+`) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sku) DO UPDATE SET tracked = excluded.tracked, qty_decimal = excluded.qty_decimal, components = excluded.components`,
			c.SKU, c.Tracked, c.QtyDecimal, comps); err != nil {
			return err
		}
		return s.audit(ctx, tx, component.RuleChange{Rule: rule, Actor: by.Actor, Old: before, New: after, Reason: by.Reason})
	})
	if err != nil {
		return fmt.Errorf("set SKU %s: %w", c.SKU, err)
	}
	return nil
}

func (s *pgStore) audit(ctx context.Context, tx pgx.Tx, c component.RuleChange) error {
	if c.At.IsZero() {
		c.At = s.clock.Now()
	}
	_, err := tx.Exec(ctx, `INSERT INTO rule_changes (rule, actor, at, old_value, new_value, reason) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Rule, c.Actor, c.At, c.Old, c.New, c.Reason)
	return err
}

func (s *pgStore) RecordRuleChange(ctx context.Context, c component.RuleChange) error {
	if err := checkChange(c); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.audit(ctx, tx, c) })
	if err != nil {
		return fmt.Errorf("record change of %s: %w", c.Rule, err)
	}
	return nil
}

func (s *pgStore) RuleHistory(ctx context.Context, rule string) ([]component.RuleChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ruleChangeColumns+` FROM rule_changes WHERE rule = $1 OR $1 = '' ORDER BY seq`, rule)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", rule, err)
	}
	defer rows.Close()
	out, err := collect(rows, scanRuleChange)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", rule, err)
	}
	return out, nil
}

func (s *pgStore) Explanations(ctx context.Context, ref string) ([]component.Explanation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+explanationColumns+` FROM applied
		WHERE ref = $1 AND explanation IS NOT NULL ORDER BY seq`, ref)
	if err != nil {
		return nil, fmt.Errorf("explanations of %s: %w", ref, err)
	}
	defer rows.Close()
	out, err := collect(rows, scanExplanation)
	if err != nil {
		return nil, fmt.Errorf("explanations of %s: %w", ref, err)
	}
	return out, nil
}

func (s *pgStore) RecentExplanations(ctx context.Context, n int) ([]component.Explanation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+explanationColumns+` FROM applied
		WHERE explanation IS NOT NULL ORDER BY seq DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("recent explanations: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanExplanation)
}

func (s *pgStore) Movements(ctx context.Context, sku string) ([]component.Movement, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+movementColumns+` FROM movements WHERE sku = $1 ORDER BY seq`, sku)
	if err != nil {
		return nil, fmt.Errorf("movements of %s: %w", sku, err)
	}
	defer rows.Close()
	out, err := collect(rows, scanMovement)
	if err != nil {
		return nil, fmt.Errorf("movements of %s: %w", sku, err)
	}
	return out, nil
}

func (s *pgStore) OrderMovements(ctx context.Context, order string) ([]component.Movement, error) {
	return pgOrderMovements(ctx, s.pool, order)
}

// pgOrderMovements reads an order's ledger through q: the pool, or a
// transaction holding the rows' locks. Refs compare byte-wise (COLLATE
// "C"), as the index movements_ref orders them.
func pgOrderMovements(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, order string) ([]component.Movement, error) {
	lo, hi := refRange(order)
	rows, err := q.Query(ctx, `SELECT `+movementColumns+` FROM movements
		WHERE ref COLLATE "C" = $1 OR (ref COLLATE "C" >= $2 AND ref COLLATE "C" < $3) ORDER BY seq`, order, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("movements of order %s: %w", order, err)
	}
	defer rows.Close()
	out, err := collect(rows, scanMovement)
	if err != nil {
		return nil, fmt.Errorf("movements of order %s: %w", order, err)
	}
	return out, nil
}

// feedSeen is what a feed update whose key was applied before does:
// nothing, unless the key was applied to other content.
func feedSeen(ctx context.Context, tx pgx.Tx, key, fingerprint string) error {
	var stored string
	if err := tx.QueryRow(ctx, `SELECT COALESCE(fingerprint, '') FROM feed_applied WHERE key = $1`, key).Scan(&stored); err != nil {
		return err
	}
	return conflictError(key, stored, fingerprint)
}

// storedEvent is an applied event as read back for a replay.
type storedEvent struct {
	outcome, explanation []byte
	fingerprint          string
}

// replay is the stored outcome of key, unless the request's fingerprint
// says it is another event.
func (e storedEvent) replay(key, fingerprint string) (component.Outcome, error) {
	if err := conflictError(key, e.fingerprint, fingerprint); err != nil {
		return component.Outcome{}, err
	}
	out, err := decodeOutcome(e.outcome, e.explanation)
	out.Fingerprint = e.fingerprint
	return out, err
}

// backfillBackorderedPG fills stock.backordered in from the ledger, once,
// when the migration that adds it runs (inside its transaction).
func backfillBackorderedPG(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT ref, sku, location, reason, delta FROM movements WHERE bucket = 'committed' ORDER BY seq`)
	if err != nil {
		return err
	}
	entries, err := collect(rows, func(scan scanFunc) (committedEntry, error) {
		var e committedEntry
		err := scan(&e.ref, &e.sku, &e.location, &e.reason, &e.delta)
		return e, err
	})
	rows.Close()
	if err != nil {
		return err
	}
	for k, n := range backorderedRows(entries) {
		if _, err := tx.Exec(ctx, `UPDATE stock SET backordered = LEAST($1, GREATEST(committed, 0)) WHERE sku = $2 AND location = $3`, n, k.SKU, k.Location); err != nil {
			return err
		}
	}
	return nil
}

func (s *pgStore) Close() error {
	s.pool.Close()
	return nil
}
