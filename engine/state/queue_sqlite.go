package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

// sqliteQueue is the embedded serve state, in queue.db. One goroutine,
// the writer, owns the only write connection and runs every write there:
// Enqueues waiting together are committed in one transaction (group
// commit, one fsync for all of them), any other write in a transaction of
// its own. Reads use a pool of read-only connections beside it (WAL).
type sqliteQueue struct {
	clock component.Clock
	path  string
	wdb   *sql.DB
	conn  *sql.Conn
	rdb   *sql.DB
	st    sqliteQueueStmts

	// relaxedNow: the write connection is at synchronous=NORMAL (see
	// queueWrite.relaxed); used by the writer goroutine only.
	relaxedNow bool
	reqs       chan *queueWrite // unbuffered: a send succeeds only when the writer takes it
	closing    chan struct{}
	done       chan struct{} // closed when the writer has returned
	closeOnce  sync.Once
	closeErr   error

	// lastPrune is when the writer last pruned event ids; only the writer
	// touches it.
	lastPrune time.Time
}

type sqliteQueueStmts struct {
	begin, commit, rollback  *sql.Stmt
	seen, insert, rememberID *sql.Stmt
	unqueue, claim, finish   *sql.Stmt
}

func (st *sqliteQueueStmts) all() []*sql.Stmt {
	return []*sql.Stmt{st.begin, st.commit, st.rollback, st.seen, st.insert, st.rememberID, st.unqueue, st.claim, st.finish}
}

// maxGroup bounds how many Enqueues one transaction commits: enough to
// spread one fsync over a burst, few enough that the first of them does
// not wait long for the last.
const maxGroup = 512

// queueWrite is a request to the writer: an Enqueue of d, grouped with
// the others waiting, or any other write fn, in a transaction of its own.
type queueWrite struct {
	ctx   context.Context
	d     *Delivery
	fn    func(ctx context.Context, c *sql.Conn) error
	reply chan writeResult // buffered: the writer never waits on a caller
	// relaxed writes need not survive a power cut on their own: a lost
	// claim, lease or completion only makes a delivery or a retry run
	// again, which idempotency keys make harmless. They commit without an
	// fsync (synchronous=NORMAL); the next Enqueue group's fsync of the log
	// covers them too. Everything else commits with one.
	relaxed bool
}

type writeResult struct {
	id  int64
	dup bool
	err error
}

var errQueueClosed = errors.New("the serve state is closed")

func openSQLiteQueue(ctx context.Context, path string, opts Options) (_ Queue, err error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("queue file %q: ? and # are not allowed in the path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	q := &sqliteQueue{clock: opts.Clock, path: path, reqs: make(chan *queueWrite), closing: make(chan struct{})}
	defer func() {
		if err != nil {
			q.Close()
		}
	}()
	// synchronous=FULL: in WAL mode it syncs the log at every commit, so
	// an Enqueue that returned survives a power cut; NORMAL syncs only at
	// checkpoints. Group commit is what makes that affordable.
	q.wdb, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	q.wdb.SetMaxOpenConns(1)
	q.wdb.SetMaxIdleConns(1)
	q.wdb.SetConnMaxLifetime(0)
	q.wdb.SetConnMaxIdleTime(0)
	if q.conn, err = q.wdb.Conn(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := q.migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := q.prepare(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	q.rdb, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	q.rdb.SetMaxOpenConns(4)
	q.done = make(chan struct{})
	go q.writer()
	return q, nil
}

func (q *sqliteQueue) migrate(ctx context.Context) error {
	all, err := migrations("sqlite-queue")
	if err != nil {
		return err
	}
	return q.tx(ctx, func(ctx context.Context, c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
			return err
		}
		var applied int
		if err := c.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return err
		}
		todo, err := pending(all, applied, 0)
		if err != nil {
			return err
		}
		for _, m := range todo {
			if _, err := c.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %d %s: %w", m.version, m.name, err)
			}
			if _, err := c.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, q.clock.Now().UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (q *sqliteQueue) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&q.st.begin, `BEGIN IMMEDIATE`},
		{&q.st.commit, `COMMIT`},
		{&q.st.rollback, `ROLLBACK`},
		{&q.st.seen, `SELECT delivery FROM event_ids WHERE pipeline = ? AND event_id = ? AND received_at > ?`},
		{&q.st.insert, `INSERT INTO deliveries (pipeline, trigger_name, version, event_id, received_at, header, body)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`},
		// A row comes back when the event id is new, or seen so long ago
		// that it counts as new again; none when it is a duplicate.
		{&q.st.rememberID, `INSERT INTO event_ids (pipeline, event_id, delivery, received_at) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (pipeline, event_id) DO UPDATE SET delivery = excluded.delivery, received_at = excluded.received_at
			WHERE event_ids.received_at <= ?5 RETURNING delivery`},
		{&q.st.unqueue, `DELETE FROM deliveries WHERE id = ?`},
		{&q.st.claim, `UPDATE deliveries SET attempts = attempts + 1, leased_until = ?1
			WHERE id IN (SELECT id FROM deliveries WHERE pipeline = ?2 AND not_before <= ?3 AND leased_until <= ?3 ORDER BY id LIMIT ?4)
			RETURNING ` + deliveryColumns},
		{&q.st.finish, `DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?))`},
	} {
		st, err := q.conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = st
	}
	return nil
}

// tx runs fn in a BEGIN IMMEDIATE transaction on the write connection,
// which takes the file's write lock at once (other processes wait up to
// busy_timeout). Only the writer goroutine, or open before it starts,
// calls it.
func (q *sqliteQueue) tx(ctx context.Context, fn func(ctx context.Context, c *sql.Conn) error) error {
	exec := func(ctx context.Context, st *sql.Stmt, sql string) error {
		var err error
		if st != nil {
			_, err = st.ExecContext(ctx)
		} else {
			_, err = q.conn.ExecContext(ctx, sql)
		}
		return err
	}
	if err := exec(ctx, q.st.begin, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(ctx, q.conn); err != nil {
		exec(context.Background(), q.st.rollback, `ROLLBACK`)
		return err
	}
	if err := exec(context.Background(), q.st.commit, `COMMIT`); err != nil {
		exec(context.Background(), q.st.rollback, `ROLLBACK`)
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// synchronous sets the write connection's synchronous mode for the next
// transaction: NORMAL for a relaxed write, FULL otherwise. It is set
// between transactions only, as SQLite requires; a failure leaves FULL.
func (q *sqliteQueue) synchronous(relaxed bool) error {
	if q.relaxedNow == relaxed {
		return nil
	}
	mode := "FULL"
	if relaxed {
		mode = "NORMAL"
	}
	if _, err := q.conn.ExecContext(context.Background(), "PRAGMA synchronous = "+mode); err != nil {
		if relaxed {
			return nil // still FULL: slower, as safe
		}
		return fmt.Errorf("PRAGMA synchronous = FULL: %w", err)
	}
	q.relaxedNow = relaxed
	return nil
}

// writer runs the writes. It takes one request, then every other already
// waiting (up to maxGroup), commits their Enqueues together and runs the
// other writes one by one. While it commits, new requests queue up behind
// it and make the next group: the busier the intake, the bigger the
// groups.
func (q *sqliteQueue) writer() {
	defer close(q.done)
	var batch, enqueues, others []*queueWrite
	for {
		select {
		case r := <-q.reqs:
			batch = append(batch[:0], r)
		case <-q.closing:
			return
		}
	drain:
		for len(batch) < maxGroup {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		// Every request is answered exactly once: its caller waits for it.
		enqueues, others = enqueues[:0], others[:0]
		for _, r := range batch {
			switch {
			case r.ctx.Err() != nil: // its caller has given up
				r.reply <- writeResult{err: r.ctx.Err()}
			case r.d != nil:
				enqueues = append(enqueues, r)
			default:
				others = append(others, r)
			}
		}
		if len(enqueues) > 0 {
			if err := q.synchronous(false); err != nil {
				for _, r := range enqueues {
					r.reply <- writeResult{err: err}
				}
			} else {
				q.commitEnqueues(enqueues)
			}
		}
		for _, r := range others {
			if err := r.ctx.Err(); err != nil { // given up while the group committed
				r.reply <- writeResult{err: err}
				continue
			}
			if err := q.synchronous(r.relaxed); err != nil {
				r.reply <- writeResult{err: err}
				continue
			}
			r.reply <- writeResult{err: q.tx(r.ctx, r.fn)}
		}
		clear(batch) // let the requests go
	}
}

// commitEnqueues queues a group of deliveries in one transaction and
// answers each. The group is not bound by any one caller's context: a
// caller that gives up meanwhile has its delivery committed anyway, and
// its storefront's retry is caught as a duplicate.
func (q *sqliteQueue) commitEnqueues(group []*queueWrite) {
	res := make([]writeResult, len(group))
	now := utc(q.clock.Now())
	horizon := now.Add(-DedupeHorizon).UnixMicro()
	err := q.tx(context.Background(), func(ctx context.Context, c *sql.Conn) error {
		// The common case, a new event, takes two statements: the
		// delivery is inserted, then its event id remembered. A
		// duplicate's delivery is taken out again in the same
		// transaction, so it never existed.
		for i, r := range group {
			d := r.d
			received := orNow(d.Received, q.clock).UnixMicro()
			var id int64
			if err := q.st.insert.QueryRowContext(ctx, d.Pipeline, d.Trigger, d.Version, d.EventID, received,
				encodeHeader(d.Header), blob(d.Body)).Scan(&id); err != nil {
				return err
			}
			res[i] = writeResult{id: id}
			if d.EventID == "" {
				continue
			}
			var remembered int64
			switch err := q.st.rememberID.QueryRowContext(ctx, d.Pipeline, d.EventID, id, received, horizon).Scan(&remembered); {
			case err == nil:
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := q.st.unqueue.ExecContext(ctx, id); err != nil {
				return err
			}
			var first int64
			if err := q.st.seen.QueryRowContext(ctx, d.Pipeline, d.EventID, horizon).Scan(&first); err != nil {
				return fmt.Errorf("the first delivery of event %s: %w", d.EventID, err)
			}
			res[i] = writeResult{id: first, dup: true}
		}
		if now.Sub(q.lastPrune) >= dedupePruneEvery {
			if _, err := c.ExecContext(ctx, `DELETE FROM event_ids WHERE received_at <= ?`, horizon); err != nil {
				return err
			}
			q.lastPrune = now
		}
		return nil
	})
	for i, r := range group {
		if err != nil {
			res[i] = writeResult{err: fmt.Errorf("enqueue for %s: %w", r.d.Pipeline, err)}
		}
		r.reply <- res[i]
	}
}

// send hands r to the writer.
func (q *sqliteQueue) send(ctx context.Context, r *queueWrite) error {
	select {
	case q.reqs <- r:
		return nil
	case <-q.closing:
		return errQueueClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *sqliteQueue) Enqueue(ctx context.Context, d *Delivery) (int64, bool, error) {
	if err := checkDelivery(d); err != nil {
		return 0, false, err
	}
	r := &queueWrite{ctx: ctx, d: d, reply: make(chan writeResult, 1)}
	if err := q.send(ctx, r); err != nil {
		return 0, false, err
	}
	select {
	case res := <-r.reply:
		return res.id, res.dup, res.err
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// write runs fn in a write transaction of its own on the writer. It waits
// for the outcome even when ctx ends, which fn's statements see: a write
// the caller gave up on has either failed or committed when it returns.
func (q *sqliteQueue) write(ctx context.Context, fn func(ctx context.Context, c *sql.Conn) error) error {
	return q.writeAs(ctx, false, fn)
}

// writeRelaxed is write for a relaxed write (queueWrite.relaxed).
func (q *sqliteQueue) writeRelaxed(ctx context.Context, fn func(ctx context.Context, c *sql.Conn) error) error {
	return q.writeAs(ctx, true, fn)
}

func (q *sqliteQueue) writeAs(ctx context.Context, relaxed bool, fn func(ctx context.Context, c *sql.Conn) error) error {
	r := &queueWrite{ctx: ctx, fn: fn, reply: make(chan writeResult, 1), relaxed: relaxed}
	if err := q.send(ctx, r); err != nil {
		return err
	}
	return (<-r.reply).err
}

// idList is ids as a JSON array, for `IN (SELECT value FROM json_each(?))`:
// one statement for any number of ids.
func idList(ids []int64) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

func (q *sqliteQueue) Claim(ctx context.Context, pipeline string, max int, lease time.Duration) ([]*Delivery, error) {
	if err := checkClaimArgs("deliveries", pipeline, max, lease); err != nil {
		return nil, err
	}
	var out []*Delivery
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		now := q.clock.Now()
		rows, err := q.st.claim.QueryContext(ctx, now.Add(lease).UnixMicro(), pipeline, now.UnixMicro(), max)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = collect(rows, scanDelivery)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of %s: %w", pipeline, err)
	}
	sortByID(out, func(d *Delivery) int64 { return d.ID })
	return out, nil
}

func (q *sqliteQueue) Finish(ctx context.Context, done []int64, retries []*Retry, dead []*DeadLetter) error {
	if err := checkOutcome(retries, dead); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		if _, err := q.st.finish.ExecContext(ctx, idList(done)); err != nil {
			return err
		}
		for _, r := range retries {
			if err := q.insertRetry(ctx, c, *r); err != nil {
				return err
			}
		}
		for _, dl := range dead {
			if _, err := q.insertDeadLetter(ctx, c, *dl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish deliveries %v: %w", done, err)
	}
	return nil
}

func (q *sqliteQueue) insertRetry(ctx context.Context, c *sql.Conn, r Retry) error {
	r = retryDefaults(r, q.clock)
	_, err := c.ExecContext(ctx, `INSERT INTO retries (pipeline, version, sink, record, origin, header, delivery, attempts, created_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Pipeline, r.Version, r.Sink, blob(r.Record), blob(r.Origin), encodeHeader(r.Header), r.Delivery,
		encodeAttempts(r.Attempts), micro(r.Created), micro(r.Next))
	return err
}

func (q *sqliteQueue) insertDeadLetter(ctx context.Context, c *sql.Conn, dl DeadLetter) (int64, error) {
	dl = deadDefaults(dl, q.clock)
	var id int64
	err := c.QueryRowContext(ctx, `INSERT INTO dead_letters (pipeline, version, trigger_name, node, error, payload, header, edited, record,
		delivery, attempts, status, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		dl.Pipeline, dl.Version, dl.Trigger, dl.Node, dl.Error, blob(dl.Payload), encodeHeader(dl.Header), orNil(dl.Edited), blob(dl.Record),
		dl.Delivery, encodeAttempts(dl.Attempts), dl.Status, dl.Reason, micro(dl.Created), micro(dl.Updated)).Scan(&id)
	return id, err
}

func (q *sqliteQueue) Renew(ctx context.Context, ids []int64, lease time.Duration) error {
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `UPDATE deliveries SET leased_until = ? WHERE id IN (SELECT value FROM json_each(?))`,
			q.clock.Now().Add(lease).UnixMicro(), idList(ids))
		return err
	})
	if err != nil {
		return fmt.Errorf("renew the lease of deliveries %v: %w", ids, err)
	}
	return nil
}

func (q *sqliteQueue) Release(ctx context.Context, ids []int64, notBefore time.Time) error {
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `UPDATE deliveries SET leased_until = 0, not_before = ? WHERE id IN (SELECT value FROM json_each(?))`,
			micro(notBefore), idList(ids))
		return err
	})
	if err != nil {
		return fmt.Errorf("release deliveries %v: %w", ids, err)
	}
	return nil
}

func (q *sqliteQueue) Depth(ctx context.Context, pipeline string) (QueueDepth, error) {
	var qd QueueDepth
	tx, err := q.rdb.BeginTx(ctx, nil)
	if err != nil {
		return qd, fmt.Errorf("depth of %s: %w", pipeline, err)
	}
	defer tx.Rollback()
	var oldest optInstant
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(leased_until > ?2), 0), COALESCE(MIN(received_at), 0)
		FROM deliveries WHERE pipeline = ?1 OR ?1 = ''`, pipeline, q.clock.Now().UnixMicro()).Scan(&qd.Queued, &qd.Running, &oldest); err != nil {
		return qd, fmt.Errorf("depth of %s: %w", pipeline, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM retries WHERE pipeline = ?1 OR ?1 = ''`, pipeline).Scan(&qd.Retries); err != nil {
		return qd, fmt.Errorf("depth of %s: %w", pipeline, err)
	}
	qd.Oldest = oldest.Time()
	return qd, nil
}

func (q *sqliteQueue) Pipelines(ctx context.Context) ([]string, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT pipeline FROM deliveries UNION SELECT pipeline FROM retries ORDER BY pipeline`)
	if err != nil {
		return nil, fmt.Errorf("queued pipelines: %w", err)
	}
	defer rows.Close()
	out, err := collect(rows, scanString)
	if err != nil {
		return nil, fmt.Errorf("queued pipelines: %w", err)
	}
	return out, nil
}

func (q *sqliteQueue) ClaimRetries(ctx context.Context, pipeline string, now time.Time, max int, lease time.Duration) ([]*Retry, error) {
	if err := checkClaimArgs("retries", pipeline, max, lease); err != nil {
		return nil, err
	}
	var out []*Retry
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, `UPDATE retries SET leased_until = ?1
			WHERE id IN (SELECT id FROM retries WHERE pipeline = ?2 AND next_at <= ?3 AND leased_until <= ?3 ORDER BY id LIMIT ?4)
			RETURNING `+retryColumns, now.Add(lease).UnixMicro(), pipeline, now.UnixMicro(), max)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = collect(rows, scanRetry)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim retries of %s: %w", pipeline, err)
	}
	sortByID(out, func(r *Retry) int64 { return r.ID })
	return out, nil
}

// affected fails with ErrNotFound when a statement changed no row.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

func (q *sqliteQueue) RetryDelivered(ctx context.Context, id int64) error {
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		return affected(c.ExecContext(ctx, `DELETE FROM retries WHERE id = ?`, id))
	})
	if err != nil {
		return fmt.Errorf("retry %d delivered: %w", id, err)
	}
	return nil
}

func (q *sqliteQueue) RetryAgain(ctx context.Context, id int64, a Attempt, next time.Time) error {
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		return affected(c.ExecContext(ctx, `UPDATE retries SET attempts = json_insert(attempts, '$[#]', json(?)), next_at = ?, leased_until = 0 WHERE id = ?`,
			attemptJSON(a), micro(utc(next)), id))
	})
	if err != nil {
		return fmt.Errorf("retry %d again: %w", id, err)
	}
	return nil
}

// attemptJSON is one attempt as stored in an attempts array.
func attemptJSON(a Attempt) string {
	s := encodeAttempts([]Attempt{a})
	return s[1 : len(s)-1]
}

func (q *sqliteQueue) RetryDead(ctx context.Context, id int64, a Attempt, dl *DeadLetter) error {
	if dl == nil {
		dl = &DeadLetter{}
	}
	err := q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		r, err := scanRetry(c.QueryRowContext(ctx, `DELETE FROM retries WHERE id = ? RETURNING `+retryColumns, id).Scan)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = q.insertDeadLetter(ctx, c, *deadFromRetry(r, a, *dl))
		return err
	})
	if err != nil {
		return fmt.Errorf("retry %d dead: %w", id, err)
	}
	return nil
}

func (q *sqliteQueue) AddDeadLetters(ctx context.Context, dls []*DeadLetter) ([]int64, error) {
	if err := checkOutcome(nil, dls); err != nil {
		return nil, fmt.Errorf("add dead letters: %w", err)
	}
	var ids []int64
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		ids = ids[:0]
		for _, dl := range dls {
			id, err := q.insertDeadLetter(ctx, c, *dl)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add dead letters: %w", err)
	}
	return ids, nil
}

func (q *sqliteQueue) ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]*DeadLetter, error) {
	where, args := deadLetterWhere(f, sqliteDialect)
	rows, err := q.rdb.QueryContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE `+where+` ORDER BY id DESC`+limit(f.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	defer rows.Close()
	out, err := collect(rows, scanDeadLetter)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

func (q *sqliteQueue) DeadLetter(ctx context.Context, id int64) (*DeadLetter, error) {
	dl, err := scanDeadLetter(q.rdb.QueryRowContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = ?`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", id, err)
	}
	return dl, nil
}

func (q *sqliteQueue) EditDeadLetter(ctx context.Context, id int64, payload []byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("edit dead letter %d: the payload is empty", id)
	}
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		return affected(c.ExecContext(ctx, `UPDATE dead_letters SET edited = ?, updated_at = ? WHERE id = ?`, payload, q.clock.Now().UnixMicro(), id))
	})
	if err != nil {
		return fmt.Errorf("edit dead letter %d: %w", id, err)
	}
	return nil
}

func (q *sqliteQueue) MarkDeadLetter(ctx context.Context, id int64, status string, attempt *Attempt, reason string) error {
	if err := checkDeadStatus(status); err != nil {
		return fmt.Errorf("mark dead letter %d: %w", id, err)
	}
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		var stored string
		switch err := c.QueryRowContext(ctx, `SELECT attempts FROM dead_letters WHERE id = ?`, id).Scan(&stored); {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		}
		attempts, err := decodeAttempts(stored)
		if err != nil {
			return err
		}
		if attempt != nil {
			attempts = append(attempts, *attempt)
		}
		_, err = c.ExecContext(ctx, `UPDATE dead_letters SET status = ?1, attempts = ?2, reason = CASE WHEN ?3 <> '' THEN ?3 ELSE reason END,
			updated_at = ?4 WHERE id = ?5`, status, encodeAttempts(attempts), reason, q.clock.Now().UnixMicro(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark dead letter %d %s: %w", id, status, err)
	}
	return nil
}

func (q *sqliteQueue) CountDeadLetters(ctx context.Context) (map[string]int, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT pipeline, COUNT(*) FROM dead_letters WHERE status = ? GROUP BY pipeline`, DeadOpen)
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	defer rows.Close()
	return collectCounts(rows)
}

func (q *sqliteQueue) StartRun(ctx context.Context, r *RunRecord) (int64, error) {
	if r == nil || r.Pipeline == "" {
		return 0, errors.New("start run: the run names no pipeline")
	}
	started := orNow(r.Started, q.clock)
	outcome := r.Outcome
	if outcome == "" {
		outcome = "running"
	}
	var id int64
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		return c.QueryRowContext(ctx, `INSERT INTO runs (pipeline, trigger_name, tick, started_at, ended_at, outcome, error, nodes)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Pipeline, r.Trigger, micro(utc(r.Tick)), micro(started), micro(utc(r.Ended)), outcome, r.Error, blob(r.Nodes)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("start run of %s: %w", r.Pipeline, err)
	}
	return id, nil
}

func (q *sqliteQueue) EndRun(ctx context.Context, r *RunRecord) error {
	if r == nil {
		return errors.New("end run: no run")
	}
	ended := orNow(r.Ended, q.clock)
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		return affected(c.ExecContext(ctx, `UPDATE runs SET ended_at = ?, outcome = ?, error = ?, nodes = ? WHERE id = ?`,
			micro(ended), r.Outcome, r.Error, blob(r.Nodes), r.ID))
	})
	if err != nil {
		return fmt.Errorf("end run %d: %w", r.ID, err)
	}
	return nil
}

func (q *sqliteQueue) ListRuns(ctx context.Context, f RunFilter) ([]*RunRecord, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE (pipeline = ?1 OR ?1 = '') AND (trigger_name = ?2 OR ?2 = '')
		ORDER BY id DESC`+limit(f.Limit), f.Pipeline, f.Trigger)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	defer rows.Close()
	out, err := collect(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	return out, nil
}

func (q *sqliteQueue) Run(ctx context.Context, id int64) (*RunRecord, error) {
	r, err := scanRun(q.rdb.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

func (q *sqliteQueue) ClaimTick(ctx context.Context, pipeline, trigger string, at time.Time) (bool, error) {
	var ok bool
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `INSERT INTO ticks (pipeline, trigger_name, tick, claimed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			pipeline, trigger, utc(at).UnixMicro(), q.clock.Now().UnixMicro())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim tick %s of %s/%s: %w", at.Format(time.RFC3339), pipeline, trigger, err)
	}
	return ok, nil
}

func (q *sqliteQueue) LastTick(ctx context.Context, pipeline, trigger string) (time.Time, bool, error) {
	var at optInstant
	err := q.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(tick), 0) FROM ticks WHERE pipeline = ? AND trigger_name = ?`, pipeline, trigger).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last tick of %s/%s: %w", pipeline, trigger, err)
	}
	return at.Time(), !at.Time().IsZero(), nil
}

func (q *sqliteQueue) Checkpoint(ctx context.Context, pipeline, source string) (string, bool, error) {
	var v string
	switch err := q.rdb.QueryRowContext(ctx, `SELECT value FROM checkpoints WHERE pipeline = ? AND source = ?`, pipeline, source).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("checkpoint of %s/%s: %w", pipeline, source, err)
	}
	return v, true, nil
}

func (q *sqliteQueue) SaveCheckpoint(ctx context.Context, pipeline, source, value string) error {
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO checkpoints (pipeline, source, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (pipeline, source) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			pipeline, source, value, q.clock.Now().UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("save checkpoint of %s/%s: %w", pipeline, source, err)
	}
	return nil
}

func (q *sqliteQueue) AddAudit(ctx context.Context, e *AuditEntry) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO audit (at, actor, action, subject, reason, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			orNow(e.At, q.clock).UnixMicro(), e.Actor, e.Action, e.Subject, e.Reason, blob(e.Detail))
		return err
	})
	if err != nil {
		return fmt.Errorf("audit %s of %s: %w", e.Action, e.Subject, err)
	}
	return nil
}

func (q *sqliteQueue) ListAudit(ctx context.Context, subject string, n int) ([]*AuditEntry, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit WHERE subject = ?1 OR ?1 = '' ORDER BY id DESC`+limit(n), subject)
	if err != nil {
		return nil, fmt.Errorf("audit of %s: %w", subject, err)
	}
	defer rows.Close()
	out, err := collect(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("audit of %s: %w", subject, err)
	}
	return out, nil
}

// Close stops the writer, after the writes it has taken, and closes the
// database; later calls fail with an error rather than panic.
func (q *sqliteQueue) Close() error {
	q.closeOnce.Do(func() {
		close(q.closing)
		if q.done != nil {
			<-q.done
		}
		var errs []error
		for _, st := range q.st.all() {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		if q.conn != nil {
			errs = append(errs, q.conn.Close())
		}
		if q.wdb != nil {
			errs = append(errs, q.wdb.Close())
		}
		if q.rdb != nil {
			errs = append(errs, q.rdb.Close())
		}
		q.closeErr = errors.Join(errs...)
	})
	return q.closeErr
}
