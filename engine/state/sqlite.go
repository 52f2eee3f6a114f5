package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteStore is the embedded store. Writes go through one connection,
// each as a BEGIN IMMEDIATE transaction under mu, with its statements
// prepared once; reads use a pool of read-only connections, which WAL lets
// run beside the writer.
type sqliteStore struct {
	clock     component.Clock
	migrateTo int
	wdb       *sql.DB
	conn      *sql.Conn
	mu        sync.Mutex
	rdb       *sql.DB
	st        sqliteStmts
	// Statements for n SKUs and n ledger entries, prepared on first use
	// on conn; used under mu.
	stockStmts, moveStmts map[int]*sql.Stmt
	pruning               keyPruning
	// skus reads SKU settings on the read pool (allocate asks once an
	// order; database/sql prepares it once per connection).
	skus *sql.Stmt
}

type sqliteStmts struct {
	begin, commit, rollback                   *sql.Stmt
	savepoint, rollbackTo, releaseSavepoint   *sql.Stmt
	getApplied, insertApplied                 *sql.Stmt
	stockRow                                  *sql.Stmt
	updateStock, insertStock, upsertFed       *sql.Stmt
	insertMovement                            *sql.Stmt
	releaseRef                                *sql.Stmt
	getFed, insertFed, qtyDecimal             *sql.Stmt
	getReservation, insertReservation, delRes *sql.Stmt
	claimKey                                  *sql.Stmt
}

// reservedSQLite sums the reservations of a stock row s unexpired at ?1,
// except those held by the order ?2 (none when ?2 is empty).
const reservedSQLite = `(SELECT COALESCE(SUM(r.qty), 0) FROM reservations r
	WHERE r.sku = s.sku AND r.location = s.location AND r.expires_at > ?1 AND NOT (r.ref = ?2 AND ?2 <> ''))`

// maxCached bounds the SKU and adjustment counts whose statements are kept
// prepared; larger orders prepare theirs each time.
const maxCached = 64

func openSQLite(ctx context.Context, path string, opts Options) (_ Store, err error) {
	if fi, err := os.Stat(path); (err == nil && fi.IsDir()) || strings.HasSuffix(path, "/") {
		path = filepath.Join(path, "state.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("state file %q: ? and # are not allowed in the path", path)
	}
	s := &sqliteStore{clock: opts.Clock, migrateTo: opts.migrateTo, stockStmts: map[int]*sql.Stmt{}, moveStmts: map[int]*sql.Stmt{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.wdb, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(4000)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if s.conn, err = s.wdb.Conn(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if s.migrateTo != 0 {
		return s, nil // a test's old schema: only Close works
	}
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.rdb, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.rdb.SetMaxOpenConns(4)
	if s.skus, err = s.rdb.PrepareContext(ctx, `SELECT `+skuColumns+` FROM skus WHERE sku IN (SELECT value FROM json_each(?))`); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func (s *sqliteStore) migrate(ctx context.Context) error {
	all, err := migrations("sqlite")
	if err != nil {
		return err
	}
	return s.write(ctx, func() error {
		if _, err := s.conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
			return err
		}
		var applied int
		if err := s.conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return err
		}
		todo, err := pending(all, applied, s.migrateTo)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := s.conn.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
			}
			if m.version == backorderedVersion {
				if err := s.backfillBackordered(ctx); err != nil {
					return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
				}
			}
			if _, err := s.conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, s.clock.Now().UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqliteStore) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.st.begin, `BEGIN IMMEDIATE`},
		{&s.st.commit, `COMMIT`},
		{&s.st.rollback, `ROLLBACK`},
		{&s.st.savepoint, `SAVEPOINT event`},
		{&s.st.rollbackTo, `ROLLBACK TO event`},
		{&s.st.releaseSavepoint, `RELEASE event`},
		{&s.st.getApplied, `SELECT outcome, explanation, COALESCE(fingerprint, '') FROM applied WHERE key = ?`},
		{&s.st.insertApplied, `INSERT INTO applied (key, ref, outcome, explanation, applied_at, fingerprint) VALUES (?, ?, ?, ?, ?, NULLIF(?, ''))`},
		{&s.st.stockRow, `SELECT s.on_hand, s.committed, s.safety_stock, s.backordered, ` + reservedSQLite + `
			FROM stock s WHERE s.sku = ?3 AND s.location = ?4`},
		{&s.st.updateStock, `UPDATE stock SET on_hand = on_hand + ?1, committed = committed + ?2, backordered = MAX(0, backordered + ?3),
			uncovered = MIN(MAX(0, committed + ?2 - MAX(0, backordered + ?3) - (on_hand + ?1)), uncovered + ?7),
			updated_at = ?4 WHERE sku = ?5 AND location = ?6`},
		{&s.st.insertStock, `INSERT INTO stock (sku, location, on_hand, committed, safety_stock, backordered, uncovered, updated_at)
			VALUES (?1, ?2, ?3, ?4, 0, MAX(0, ?5), MIN(MAX(0, ?4 - MAX(0, ?5) - ?3), ?7), ?6)`},
		// A count or feed is a fact: it is recorded even when it leaves
		// allocated units without stock, which uncovered then holds.
		{&s.st.upsertFed, `INSERT INTO stock (sku, location, on_hand, committed, safety_stock, uncovered, updated_at) VALUES (?1, ?2, ?3, 0, ?4, MAX(0, -?3), ?5)
			ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand, safety_stock = excluded.safety_stock,
			uncovered = MAX(0, stock.committed - stock.backordered - excluded.on_hand), updated_at = excluded.updated_at`},
		{&s.st.insertMovement, `INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.st.releaseRef, `DELETE FROM reservations WHERE ref = ?`},
		{&s.st.getFed, `SELECT COALESCE(fingerprint, '') FROM feed_applied WHERE key = ?`},
		{&s.st.insertFed, `INSERT INTO feed_applied (key, applied_at, fingerprint) VALUES (?, ?, ?)`},
		{&s.st.qtyDecimal, `SELECT qty_decimal FROM skus WHERE sku = ?`},
		{&s.st.getReservation, `SELECT 1 FROM reservations WHERE id = ?`},
		{&s.st.insertReservation, `INSERT INTO reservations (id, sku, location, qty, expires_at, ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&s.st.delRes, `DELETE FROM reservations WHERE id = ?`},
		{&s.st.claimKey, `INSERT INTO seen_keys (scope, key, claimed_at, expires_at, run) VALUES (?1, ?2, ?3, ?4, ?5)
			ON CONFLICT (scope, key) DO UPDATE SET claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, run = excluded.run
			WHERE ` + claimableSQLite},
	} {
		st, err := s.conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = st
	}
	return nil
}

// write runs fn in a write transaction. BEGIN IMMEDIATE takes the
// database's write lock at once, so what fn reads cannot change before it
// writes; other processes wait for it up to busy_timeout.
func (s *sqliteStore) write(ctx context.Context, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.st.begin != nil {
		_, err = s.st.begin.ExecContext(ctx)
	} else {
		_, err = s.conn.ExecContext(ctx, `BEGIN IMMEDIATE`)
	}
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(); err != nil {
		s.conn.ExecContext(context.Background(), `ROLLBACK`)
		return err
	}
	if s.st.commit != nil {
		_, err = s.st.commit.ExecContext(context.Background())
	} else {
		_, err = s.conn.ExecContext(context.Background(), `COMMIT`)
	}
	if err != nil {
		s.conn.ExecContext(context.Background(), `ROLLBACK`)
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// decideError marks an error from decide, returned unwrapped.
type decideError struct{ err error }

func (e decideError) Error() string { return e.err.Error() }

func (s *sqliteStore) Apply(ctx context.Context, req component.ApplyRequest, decide func(component.Snapshot) (component.Outcome, error)) (component.Outcome, bool, error) {
	skus, err := requestSKUs(req)
	if err != nil {
		return component.Outcome{}, false, err
	}
	var out component.Outcome
	replayed := false
	err = s.write(ctx, func() (err error) {
		out, replayed, err = s.applyInTx(ctx, req, skus, decide)
		return err
	})
	if err != nil {
		return component.Outcome{}, false, applyError(req, err)
	}
	return out, replayed, nil
}

// ApplyGroup applies reqs in one write transaction, each in a savepoint
// that is rolled back alone when its event fails.
func (s *sqliteStore) ApplyGroup(ctx context.Context, reqs []component.ApplyRequest, decide func(int, component.Snapshot) (component.Outcome, error)) ([]component.Applied, error) {
	res := make([]component.Applied, len(reqs))
	err := s.write(ctx, func() error {
		for i, req := range reqs {
			res[i] = component.Applied{}
			skus, err := requestSKUs(req)
			if err != nil {
				res[i].Err = err
				continue
			}
			if _, err := s.st.savepoint.ExecContext(ctx); err != nil {
				return err
			}
			out, replayed, err := s.applyInTx(ctx, req, skus, func(snap component.Snapshot) (component.Outcome, error) { return decide(i, snap) })
			if err != nil {
				res[i].Err = applyError(req, err)
				if _, err := s.st.rollbackTo.ExecContext(ctx); err != nil {
					return err
				}
			} else {
				res[i].Outcome, res[i].Replayed = out, replayed
			}
			if _, err := s.st.releaseSavepoint.ExecContext(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply a group of %d events: %w", len(reqs), err)
	}
	return res, nil
}

// applyError is what Apply returns for err: decide's own error unwrapped,
// anything else wrapped with the event's key.
func applyError(req component.ApplyRequest, err error) error {
	var de decideError
	if errors.As(err, &de) {
		return de.err
	}
	return fmt.Errorf("apply %s: %w", req.IdempotencyKey, err)
}

// applyInTx applies one event inside the write transaction.
func (s *sqliteStore) applyInTx(ctx context.Context, req component.ApplyRequest, skus []string, decide func(component.Snapshot) (component.Outcome, error)) (out component.Outcome, replayed bool, err error) {
	for _, key := range []string{req.IdempotencyKey, req.LegacyKey} {
		if key == "" {
			continue
		}
		var stored, explanation []byte
		var fingerprint string
		switch err := s.st.getApplied.QueryRowContext(ctx, key).Scan(&stored, &explanation, &fingerprint); {
		case err == nil:
			if err := conflictError(key, fingerprint, req.Fingerprint); err != nil {
				return out, false, err
			}
			out, err = decodeOutcome(stored, explanation)
			out.Fingerprint = fingerprint
			return out, true, err
		case !errors.Is(err, sql.ErrNoRows):
			return out, false, err
		}
	}
	now := s.clock.Now()
	rows, err := s.lockedRows(ctx, skus, req.Ref, now)
	if err != nil {
		return out, false, err
	}
	snap := snapshot(now, rows)
	if req.Ledger != "" {
		if snap.Ledger, err = sqliteOrderMovements(ctx, s.conn, req.Ledger); err != nil {
			return out, false, err
		}
	}
	if out, err = decide(snap); err != nil {
		return out, false, decideError{err}
	}
	changes, moves, err := plan(req, skus, rows, out)
	if err != nil {
		return out, false, err
	}
	enc, err := encodeOutcome(out)
	if err != nil {
		return out, false, err
	}
	t := now.UnixMicro()
	for _, c := range changes {
		if c.before.exists {
			_, err = s.st.updateStock.ExecContext(ctx, c.dOnHand, c.dCommitted, c.dBackordered, t, c.before.sku, c.before.location, c.uncoveredGrowth())
		} else {
			_, err = s.st.insertStock.ExecContext(ctx, c.before.sku, c.before.location, c.dOnHand, c.dCommitted, c.dBackordered, t, c.uncoveredGrowth())
		}
		if err != nil {
			return out, false, oversellError(c, err, sqliteOversell(err))
		}
	}
	if err := s.insertMovements(ctx, moves, req.IdempotencyKey, t); err != nil {
		return out, false, fmt.Errorf("ledger: %w", err)
	}
	if out.ReleaseReservations && req.Ref != "" {
		if _, err := s.st.releaseRef.ExecContext(ctx, req.Ref); err != nil {
			return out, false, fmt.Errorf("release reservations of %s: %w", req.Ref, err)
		}
	}
	var expl any
	if len(out.Explanation) > 0 {
		expl = out.Explanation
	}
	if _, err := s.st.insertApplied.ExecContext(ctx, req.IdempotencyKey, req.Ref, enc, expl, t, req.Fingerprint); err != nil {
		return out, false, fmt.Errorf("record %s as applied: %w", req.IdempotencyKey, err)
	}
	out.Fingerprint = req.Fingerprint
	return out, false, nil
}

// cached returns the statement for n items from cache, preparing it with
// build on first use; beyond maxCached it is prepared for one use (done
// closes it).
func (s *sqliteStore) cached(ctx context.Context, cache map[int]*sql.Stmt, n int, build func(int) string) (st *sql.Stmt, done func(), err error) {
	if st := cache[n]; st != nil {
		return st, func() {}, nil
	}
	if st, err = s.conn.PrepareContext(ctx, build(n)); err != nil {
		return nil, nil, err
	}
	if n > maxCached {
		return st, func() { st.Close() }, nil
	}
	cache[n] = st
	return st, func() {}, nil
}

// lockedRows reads the stock rows of skus inside the write transaction, in
// one statement.
func (s *sqliteStore) lockedRows(ctx context.Context, skus []string, ref string, now time.Time) ([]stockRow, error) {
	if len(skus) == 0 {
		return nil, nil
	}
	st, done, err := s.cached(ctx, s.stockStmts, len(skus), func(n int) string {
		var b strings.Builder
		b.WriteString(`SELECT s.sku, s.location, s.on_hand, s.committed, s.safety_stock, s.backordered, ` + reservedSQLite + `
			FROM stock s WHERE s.sku IN (`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "?%d", i+3)
		}
		b.WriteString(") ORDER BY s.sku, s.location")
		return b.String()
	})
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	defer done()
	args := make([]any, 0, len(skus)+2)
	args = append(args, now.UnixMicro(), ref)
	for _, sku := range skus {
		args = append(args, sku)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	defer rows.Close()
	out := make([]stockRow, 0, len(skus)*2)
	for rows.Next() {
		r := stockRow{exists: true}
		if err := rows.Scan(&r.sku, &r.location, &r.onHand, &r.committed, &r.safety, &r.backordered, &r.reserved); err != nil {
			return nil, fmt.Errorf("read stock: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stock: %w", err)
	}
	return out, nil
}

// insertMovements writes ledger entries in one statement.
func (s *sqliteStore) insertMovements(ctx context.Context, moves []movement, key string, t int64) error {
	if len(moves) == 0 {
		return nil
	}
	st, done, err := s.cached(ctx, s.moveStmts, len(moves), func(n int) string {
		var b strings.Builder
		b.WriteString(`INSERT INTO movements (sku, location, bucket, delta, reason, ref, key, at) VALUES `)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		}
		return b.String()
	})
	if err != nil {
		return err
	}
	defer done()
	args := make([]any, 0, len(moves)*8)
	for _, m := range moves {
		args = append(args, m.sku, m.location, m.bucket, m.delta, m.reason, m.ref, key, t)
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// row reads one stock row inside the write transaction; a missing row is
// zero.
func (s *sqliteStore) row(ctx context.Context, sku, location string, now time.Time) (stockRow, error) {
	r := stockRow{sku: sku, location: location, exists: true}
	err := s.st.stockRow.QueryRowContext(ctx, now.UnixMicro(), "", sku, location).Scan(&r.onHand, &r.committed, &r.safety, &r.backordered, &r.reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return stockRow{sku: sku, location: location}, nil
	}
	return r, err
}

func (s *sqliteStore) qtyDecimal(ctx context.Context, sku string) (bool, error) {
	var d bool
	err := s.st.qtyDecimal.QueryRowContext(ctx, sku).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return d, err
}

func (s *sqliteStore) SetLevel(ctx context.Context, u component.LevelUpdate) (bool, error) {
	return s.feed(ctx, u, true)
}

func (s *sqliteStore) AdjustLevel(ctx context.Context, u component.LevelUpdate) (bool, error) {
	return s.feed(ctx, u, false)
}

func (s *sqliteStore) feed(ctx context.Context, u component.LevelUpdate, set bool) (bool, error) {
	f, err := checkUpdate(u, set)
	if err != nil {
		return false, err
	}
	applied := false
	var before, after int64
	var existed bool
	fingerprint := feedFingerprint(f, set)
	err = s.write(ctx, func() error {
		if f.Key != "" {
			for _, key := range []string{f.Key, f.LegacyKey} {
				if key == "" {
					continue
				}
				var stored string
				switch err := s.st.getFed.QueryRowContext(ctx, key).Scan(&stored); {
				case err == nil:
					return conflictError(key, stored, fingerprint)
				case !errors.Is(err, sql.ErrNoRows):
					return err
				}
			}
		}
		dec, err := s.qtyDecimal(ctx, f.SKU)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		r, err := s.row(ctx, f.SKU, f.Location, now)
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
		t := now.UnixMicro()
		if _, err := s.st.upsertFed.ExecContext(ctx, f.SKU, f.Location, onHand, safety, t); err != nil {
			return err
		}
		if delta != 0 {
			if _, err := s.st.insertMovement.ExecContext(ctx, f.SKU, f.Location, string(f.Bucket), delta, feedReason(f, set), f.Ref, f.Key, t); err != nil {
				return err
			}
			if f.By != nil {
				if err := s.audit(ctx, levelChange(f, r.exists, v-delta, v, now)); err != nil {
					return err
				}
			}
		}
		if f.Key != "" {
			if _, err := s.st.insertFed.ExecContext(ctx, f.Key, t, fingerprint); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("update level of %s at %s: %w", f.SKU, f.Location, err)
	}
	if applied && u.Applied != nil {
		u.Applied(fromUnits(before), fromUnits(after), existed)
	}
	return applied, nil
}

func feedReason(f feedUpdate, set bool) string {
	switch {
	case f.Reason != "":
		return f.Reason
	case set:
		return "set"
	}
	return "adjust"
}

func (s *sqliteStore) Levels(ctx context.Context, skus []string) ([]component.Level, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.clock.Now().UnixMicro()
	q := `SELECT ` + levelColumns + `, ` + reservedSQLite + ` FROM stock s `
	var args [][]any
	if len(skus) == 0 {
		args = [][]any{{now, "", nil}}
		q += `WHERE ?3 IS NULL ORDER BY s.sku, s.location`
	} else {
		sorted := slices.Clone(skus)
		slices.Sort(sorted)
		sorted = slices.Compact(sorted)
		for _, sku := range sorted {
			args = append(args, []any{now, "", sku})
		}
		q += `WHERE s.sku = ?3 ORDER BY s.location`
	}
	var out []component.Level
	for _, a := range args {
		rows, err := tx.QueryContext(ctx, q, a...)
		if err != nil {
			return nil, fmt.Errorf("read levels: %w", err)
		}
		levels, err := collect(rows, scanLevel)
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read levels: %w", err)
		}
		out = append(out, levels...)
	}
	return out, nil
}

func (s *sqliteStore) Reserve(ctx context.Context, r component.Reservation) (bool, error) {
	n, err := checkReservation(r)
	if err != nil {
		return false, err
	}
	created := false
	err = s.write(ctx, func() error {
		var one int
		switch err := s.st.getReservation.QueryRowContext(ctx, r.ID).Scan(&one); {
		case err == nil:
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		dec, err := s.qtyDecimal(ctx, r.SKU)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		row, err := s.row(ctx, r.SKU, r.Location, now)
		if err != nil {
			return err
		}
		if err := reserveGuard(r, row, n, dec); err != nil {
			return err
		}
		if _, err := s.st.insertReservation.ExecContext(ctx, r.ID, r.SKU, r.Location, n, r.ExpiresAt.UnixMicro(), r.Ref, now.UnixMicro()); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil && !errors.Is(err, component.ErrInsufficientStock) && !errors.Is(err, component.ErrInvalidQuantity) {
		err = fmt.Errorf("reserve %s: %w", r.ID, err)
	}
	return created, err
}

func (s *sqliteStore) Release(ctx context.Context, id string) (bool, error) {
	released := false
	err := s.write(ctx, func() error {
		res, err := s.st.delRes.ExecContext(ctx, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		released = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release %s: %w", id, err)
	}
	return released, nil
}

func (s *sqliteStore) Reservations(ctx context.Context, ref string) ([]component.Reservation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+reservationColumns+` FROM reservations WHERE ref = ? ORDER BY id`, ref)
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

func (s *sqliteStore) ExpireReservations(ctx context.Context) (int, error) {
	var n int64
	err := s.write(ctx, func() error {
		res, err := s.conn.ExecContext(ctx, `DELETE FROM reservations WHERE expires_at <= ?`, s.clock.Now().UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire reservations: %w", err)
	}
	return int(n), nil
}

func (s *sqliteStore) Locations(ctx context.Context) ([]component.Location, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+locationColumns+` FROM locations ORDER BY priority, id`)
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

func (s *sqliteStore) SetLocation(ctx context.Context, l component.Location, by component.Change) error {
	if err := checkLocation(l); err != nil {
		return err
	}
	if by.Actor == "" {
		return fmt.Errorf("set location %s: who changes it is required", l.ID)
	}
	err := s.write(ctx, func() error {
		var old *component.Location
		switch o, err := scanLocation(s.conn.QueryRowContext(ctx, `SELECT `+locationColumns+` FROM locations WHERE id = ?`, l.ID).Scan); {
		case err == nil:
			old = &o
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		before, after := locationJSON(old), locationJSON(&l)
		if before == after {
			return nil
		}
		lat, lng := coords(l)
		if _, err := s.conn.ExecContext(ctx, `INSERT INTO locations (`+locationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, priority = excluded.priority, market = excluded.market,
			lat = excluded.lat, lng = excluded.lng, pickup = excluded.pickup, disabled = excluded.disabled`,
			l.ID, l.Name, l.Priority, l.Market, lat, lng, l.Pickup, l.Disabled); err != nil {
			return err
		}
		return s.audit(ctx, component.RuleChange{Rule: "location/" + l.ID, Actor: by.Actor, Old: before, New: after, Reason: by.Reason})
	})
	if err != nil {
		return fmt.Errorf("set location %s: %w", l.ID, err)
	}
	return nil
}

func (s *sqliteStore) SKUs(ctx context.Context, skus []string) (map[string]component.SKU, error) {
	// One statement for the order's SKUs: allocate asks once an order.
	list, _ := json.Marshal(nonNil(skus))
	rows, err := s.skus.QueryContext(ctx, string(list))
	if err != nil {
		return nil, fmt.Errorf("SKU settings: %w", err)
	}
	defer rows.Close()
	found, err := collect(rows, scanSKU)
	if err != nil {
		return nil, fmt.Errorf("SKU settings: %w", err)
	}
	out := make(map[string]component.SKU, len(found))
	for _, c := range found {
		out[c.SKU] = c
	}
	return out, nil
}

func (s *sqliteStore) SetSKU(ctx context.Context, c component.SKU, by component.Change) error {
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
	err = s.write(ctx, func() error {
		var old *component.SKU
		switch o, err := scanSKU(s.conn.QueryRowContext(ctx, `SELECT `+skuColumns+` FROM skus WHERE sku = ?`, c.SKU).Scan); {
		case err == nil:
			old = &o
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		before, after := skuJSON(old), skuJSON(&c)
		if before == after {
			return nil
		}
		if _, err := s.conn.ExecContext(ctx, `INSERT INTO skus (`+skuColumns+`) VALUES (?, ?, ?, ?)
			ON CONFLICT (sku) DO UPDATE SET tracked = excluded.tracked, qty_decimal = excluded.qty_decimal, components = excluded.components`,
			c.SKU, c.Tracked, c.QtyDecimal, comps); err != nil {
			return err
		}
		return s.audit(ctx, component.RuleChange{Rule: "sku/" + c.SKU, Actor: by.Actor, Old: before, New: after, Reason: by.Reason})
	})
	if err != nil {
		return fmt.Errorf("set SKU %s: %w", c.SKU, err)
	}
	return nil
}

// audit appends to the audit log inside a write transaction.
func (s *sqliteStore) audit(ctx context.Context, c component.RuleChange) error {
	if c.At.IsZero() {
		c.At = s.clock.Now()
	}
	_, err := s.conn.ExecContext(ctx, `INSERT INTO rule_changes (rule, actor, at, old_value, new_value, reason) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Rule, c.Actor, c.At.UnixMicro(), c.Old, c.New, c.Reason)
	return err
}

func (s *sqliteStore) RecordRuleChange(ctx context.Context, c component.RuleChange) error {
	if err := checkChange(c); err != nil {
		return err
	}
	if err := s.write(ctx, func() error { return s.audit(ctx, c) }); err != nil {
		return fmt.Errorf("record change of %s: %w", c.Rule, err)
	}
	return nil
}

func (s *sqliteStore) RuleHistory(ctx context.Context, rule string) ([]component.RuleChange, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+ruleChangeColumns+` FROM rule_changes WHERE rule = ?1 OR ?1 = '' ORDER BY seq`, rule)
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

func (s *sqliteStore) Explanations(ctx context.Context, ref string) ([]component.Explanation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+explanationColumns+` FROM applied
		WHERE ref = ? AND explanation IS NOT NULL ORDER BY seq`, ref)
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

func (s *sqliteStore) RecentExplanations(ctx context.Context, n int) ([]component.Explanation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+explanationColumns+` FROM applied
		WHERE explanation IS NOT NULL ORDER BY seq DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("recent explanations: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanExplanation)
}

func (s *sqliteStore) Movements(ctx context.Context, sku string) ([]component.Movement, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+movementColumns+` FROM movements WHERE sku = ? ORDER BY seq`, sku)
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

func (s *sqliteStore) OrderMovements(ctx context.Context, order string) ([]component.Movement, error) {
	return sqliteOrderMovements(ctx, s.rdb, order)
}

// sqliteOrderMovements reads an order's ledger through q: the database,
// or the connection of a write transaction.
func sqliteOrderMovements(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, order string) ([]component.Movement, error) {
	lo, hi := refRange(order)
	rows, err := q.QueryContext(ctx, `SELECT `+movementColumns+` FROM movements
		WHERE ref = ? OR (ref >= ? AND ref < ?) ORDER BY seq`, order, lo, hi)
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

// backfillBackordered fills stock.backordered in from the ledger, once,
// when the migration that adds it runs (inside its transaction).
func (s *sqliteStore) backfillBackordered(ctx context.Context) error {
	rows, err := s.conn.QueryContext(ctx, `SELECT ref, sku, location, reason, delta FROM movements WHERE bucket = 'committed' ORDER BY seq`)
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
		if _, err := s.conn.ExecContext(ctx, `UPDATE stock SET backordered = MIN(?, MAX(committed, 0)) WHERE sku = ? AND location = ?`, n, k.SKU, k.Location); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqliteStore) Close() error {
	var errs []error
	if s.skus != nil {
		errs = append(errs, s.skus.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	return errors.Join(errs...)
}

// sqliteOversell reports whether err is the check stock_no_oversell
// refusing a row (SQLITE_CONSTRAINT_CHECK).
func sqliteOversell(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_CHECK && strings.Contains(se.Error(), "stock_no_oversell")
}
