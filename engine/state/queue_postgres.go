package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pipectl/pipectl/pipelines/component"
)

// pgQueue is the serve state in PostgreSQL, in the inventory's database:
// several serve processes share it. Each write is one transaction at READ
// COMMITTED; claims take rows with FOR UPDATE SKIP LOCKED, so claimers
// never wait for each other nor take the same row, and PostgreSQL's own
// commit handling groups the fsyncs of concurrent Enqueues.
type pgQueue struct {
	pool  *pgxpool.Pool
	clock component.Clock

	pruneMu   sync.Mutex
	lastPrune time.Time
}

func openPostgresQueue(ctx context.Context, url string, opts Options) (_ Queue, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("state url %s: %w", redactURL(url), redactError(url, err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(url), redactError(url, err))
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(url), redactError(url, err))
	}
	// The serve tables are migrations of the one database, applied by
	// whichever of Open and OpenQueue comes first.
	if err := (&pgStore{pool: pool, clock: opts.Clock}).migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", redactURL(url), redactError(url, err))
	}
	return &pgQueue{pool: pool, clock: opts.Clock}, nil
}

// tx runs fn in a transaction, again when it lost a race (retry).
func (q *pgQueue) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return retry(ctx, func() error { return pgx.BeginFunc(ctx, q.pool, fn) })
}

// pruneDue reports whether this Enqueue should prune expired event ids.
func (q *pgQueue) pruneDue(now time.Time) bool {
	q.pruneMu.Lock()
	defer q.pruneMu.Unlock()
	if now.Sub(q.lastPrune) < dedupePruneEvery {
		return false
	}
	q.lastPrune = now
	return true
}

func (q *pgQueue) Enqueue(ctx context.Context, d *Delivery) (int64, bool, error) {
	if err := checkDelivery(d); err != nil {
		return 0, false, err
	}
	now := utc(q.clock.Now())
	horizon := now.Add(-DedupeHorizon)
	received := orNow(d.Received, q.clock)
	prune := q.pruneDue(now)
	var id int64
	var dup bool
	err := q.tx(ctx, func(tx pgx.Tx) error {
		id, dup = 0, false
		if prune {
			if _, err := tx.Exec(ctx, `DELETE FROM event_ids WHERE received_at <= $1`, horizon); err != nil {
				return fmt.Errorf("prune event ids: %w", err)
			}
		}
		if d.EventID != "" {
			// Claim the event id first: an insert, or the takeover of an
			// entry past the horizon. Of two Enqueues of one id at once the
			// second waits here for the first, then finds its entry.
			tag, err := tx.Exec(ctx, `INSERT INTO event_ids (pipeline, event_id, delivery, received_at) VALUES ($1, $2, 0, $3)
				ON CONFLICT (pipeline, event_id) DO UPDATE SET delivery = 0, received_at = excluded.received_at
				WHERE event_ids.received_at <= $4`, d.Pipeline, d.EventID, received, horizon)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				dup = true
				return tx.QueryRow(ctx, `SELECT delivery FROM event_ids WHERE pipeline = $1 AND event_id = $2`, d.Pipeline, d.EventID).Scan(&id)
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO deliveries (pipeline, trigger_name, version, event_id, received_at, header, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			d.Pipeline, d.Trigger, d.Version, d.EventID, received, encodeHeader(d.Header), blob(d.Body)).Scan(&id); err != nil {
			return err
		}
		if d.EventID != "" {
			if _, err := tx.Exec(ctx, `UPDATE event_ids SET delivery = $3 WHERE pipeline = $1 AND event_id = $2`, d.Pipeline, d.EventID, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("enqueue for %s: %w", d.Pipeline, err)
	}
	return id, dup, nil
}

func (q *pgQueue) Claim(ctx context.Context, pipeline string, max int, lease time.Duration) ([]*Delivery, error) {
	if err := checkClaimArgs("deliveries", pipeline, max, lease); err != nil {
		return nil, err
	}
	now := q.clock.Now()
	var out []*Delivery
	err := q.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE deliveries SET attempts = attempts + 1, leased_until = $1
			WHERE id IN (SELECT id FROM deliveries WHERE pipeline = $2
				AND (not_before IS NULL OR not_before <= $3) AND (leased_until IS NULL OR leased_until <= $3)
				ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING `+deliveryColumns, now.Add(lease).UTC(), pipeline, now.UTC(), max)
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

func (q *pgQueue) Finish(ctx context.Context, done []int64, retries []*Retry, dead []*DeadLetter) error {
	if err := checkOutcome(retries, dead); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	err := q.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM deliveries WHERE id = ANY($1)`, nonNilIDs(done))
		q.queueOutcome(b, retries, dead)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("finish deliveries %v: %w", done, err)
	}
	return nil
}

// queueOutcome adds a run's retries and dead letters to b, for the
// transaction that finishes its deliveries.
func (q *pgQueue) queueOutcome(b *pgx.Batch, retries []*Retry, dead []*DeadLetter) {
	for _, r := range retries {
		q.queueRetry(b, *r)
	}
	for _, dl := range dead {
		q.queueDeadLetter(b, *dl)
	}
}

func nonNilIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

func (q *pgQueue) queueRetry(b *pgx.Batch, r Retry) {
	r = retryDefaults(r, q.clock)
	b.Queue(`INSERT INTO retries (pipeline, version, sink, record, origin, header, delivery, attempts, created_at, next_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.Pipeline, r.Version, r.Sink, blob(r.Record), blob(r.Origin), encodeHeader(r.Header), r.Delivery,
		encodeAttempts(r.Attempts), r.Created, r.Next)
}

const pgInsertDeadLetter = `INSERT INTO dead_letters (pipeline, version, trigger_name, node, error, payload, header, edited, record,
	delivery, attempts, status, reason, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`

func (q *pgQueue) deadLetterArgs(dl DeadLetter) []any {
	dl = deadDefaults(dl, q.clock)
	return []any{dl.Pipeline, dl.Version, dl.Trigger, dl.Node, dl.Error, blob(dl.Payload), encodeHeader(dl.Header), orNil(dl.Edited),
		blob(dl.Record), dl.Delivery, encodeAttempts(dl.Attempts), dl.Status, dl.Reason, dl.Created, dl.Updated}
}

func (q *pgQueue) queueDeadLetter(b *pgx.Batch, dl DeadLetter) {
	b.Queue(pgInsertDeadLetter, q.deadLetterArgs(dl)...)
}

func (q *pgQueue) Renew(ctx context.Context, ids []int64, lease time.Duration) error {
	_, err := q.pool.Exec(ctx, `UPDATE deliveries SET leased_until = $1 WHERE id = ANY($2)`, pgTime(utc(q.clock.Now().Add(lease))), nonNilIDs(ids))
	if err != nil {
		return fmt.Errorf("renew the lease of deliveries %v: %w", ids, err)
	}
	return nil
}

func (q *pgQueue) Release(ctx context.Context, ids []int64, notBefore time.Time) error {
	_, err := q.pool.Exec(ctx, `UPDATE deliveries SET leased_until = NULL, not_before = $1 WHERE id = ANY($2)`, pgTime(utc(notBefore)), nonNilIDs(ids))
	if err != nil {
		return fmt.Errorf("release deliveries %v: %w", ids, err)
	}
	return nil
}

func (q *pgQueue) Depth(ctx context.Context, pipeline string) (QueueDepth, error) {
	var qd QueueDepth
	var oldest optInstant
	err := q.pool.QueryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM deliveries WHERE pipeline = $1 OR $1 = ''),
			(SELECT COUNT(*) FROM deliveries WHERE (pipeline = $1 OR $1 = '') AND leased_until > $2),
			(SELECT MIN(received_at) FROM deliveries WHERE pipeline = $1 OR $1 = ''),
			(SELECT COUNT(*) FROM retries WHERE pipeline = $1 OR $1 = '')`,
		pipeline, q.clock.Now().UTC()).Scan(&qd.Queued, &qd.Running, &oldest, &qd.Retries)
	if err != nil {
		return qd, fmt.Errorf("depth of %s: %w", pipeline, err)
	}
	qd.Oldest = oldest.Time()
	return qd, nil
}

func (q *pgQueue) Pipelines(ctx context.Context) ([]string, error) {
	rows, err := q.pool.Query(ctx, `SELECT pipeline FROM deliveries UNION SELECT pipeline FROM retries ORDER BY pipeline`)
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

func (q *pgQueue) ClaimRetries(ctx context.Context, pipeline string, now time.Time, max int, lease time.Duration) ([]*Retry, error) {
	if err := checkClaimArgs("retries", pipeline, max, lease); err != nil {
		return nil, err
	}
	var out []*Retry
	err := q.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE retries SET leased_until = $1
			WHERE id IN (SELECT id FROM retries WHERE pipeline = $2 AND next_at <= $3 AND (leased_until IS NULL OR leased_until <= $3)
				ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING `+retryColumns, now.Add(lease).UTC(), pipeline, now.UTC(), max)
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

// pgAffected fails with ErrNotFound when a statement changed no row.
func pgAffected(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (q *pgQueue) RetryDelivered(ctx context.Context, id int64) error {
	if err := pgAffected(q.pool.Exec(ctx, `DELETE FROM retries WHERE id = $1`, id)); err != nil {
		return fmt.Errorf("retry %d delivered: %w", id, err)
	}
	return nil
}

func (q *pgQueue) RetryAgain(ctx context.Context, id int64, a Attempt, next time.Time) error {
	err := pgAffected(q.pool.Exec(ctx, `UPDATE retries SET attempts = attempts || $1::jsonb, next_at = $2, leased_until = NULL WHERE id = $3`,
		encodeAttempts([]Attempt{a}), utc(next), id))
	if err != nil {
		return fmt.Errorf("retry %d again: %w", id, err)
	}
	return nil
}

func (q *pgQueue) RetryDead(ctx context.Context, id int64, a Attempt, dl *DeadLetter) error {
	if dl == nil {
		dl = &DeadLetter{}
	}
	err := q.tx(ctx, func(tx pgx.Tx) error {
		r, err := scanRetry(tx.QueryRow(ctx, `DELETE FROM retries WHERE id = $1 RETURNING `+retryColumns, id).Scan)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, pgInsertDeadLetter, q.deadLetterArgs(*deadFromRetry(r, a, *dl))...)
		return err
	})
	if err != nil {
		return fmt.Errorf("retry %d dead: %w", id, err)
	}
	return nil
}

func (q *pgQueue) AddDeadLetters(ctx context.Context, dls []*DeadLetter) ([]int64, error) {
	if err := checkOutcome(nil, dls); err != nil {
		return nil, fmt.Errorf("add dead letters: %w", err)
	}
	var ids []int64
	err := q.tx(ctx, func(tx pgx.Tx) error {
		ids = ids[:0]
		for _, dl := range dls {
			var id int64
			if err := tx.QueryRow(ctx, pgInsertDeadLetter, q.deadLetterArgs(*dl)...).Scan(&id); err != nil {
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

func (q *pgQueue) ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]*DeadLetter, error) {
	where, args := deadLetterWhere(f, pgDialect)
	rows, err := q.pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE `+where+` ORDER BY id DESC`+limit(f.Limit), args...)
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

func (q *pgQueue) DeadLetter(ctx context.Context, id int64) (*DeadLetter, error) {
	dl, err := scanDeadLetter(q.pool.QueryRow(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = $1`, id).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", id, err)
	}
	return dl, nil
}

func (q *pgQueue) EditDeadLetter(ctx context.Context, id int64, payload []byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("edit dead letter %d: the payload is empty", id)
	}
	err := pgAffected(q.pool.Exec(ctx, `UPDATE dead_letters SET edited = $1, updated_at = $2 WHERE id = $3`, payload, q.clock.Now().UTC(), id))
	if err != nil {
		return fmt.Errorf("edit dead letter %d: %w", id, err)
	}
	return nil
}

func (q *pgQueue) MarkDeadLetter(ctx context.Context, id int64, status string, attempt *Attempt, reason string) error {
	if err := checkDeadStatus(status); err != nil {
		return fmt.Errorf("mark dead letter %d: %w", id, err)
	}
	add := "[]"
	if attempt != nil {
		add = encodeAttempts([]Attempt{*attempt})
	}
	err := pgAffected(q.pool.Exec(ctx, `UPDATE dead_letters SET status = $1, attempts = attempts || $2::jsonb,
		reason = CASE WHEN $3 <> '' THEN $3 ELSE reason END, updated_at = $4 WHERE id = $5`,
		status, add, reason, q.clock.Now().UTC(), id))
	if err != nil {
		return fmt.Errorf("mark dead letter %d %s: %w", id, status, err)
	}
	return nil
}

func (q *pgQueue) CountDeadLetters(ctx context.Context) (map[string]int, error) {
	rows, err := q.pool.Query(ctx, `SELECT pipeline, COUNT(*) FROM dead_letters WHERE status = $1 GROUP BY pipeline`, DeadOpen)
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	defer rows.Close()
	return collectCounts(rows)
}

func (q *pgQueue) StartRun(ctx context.Context, r *RunRecord) (int64, error) {
	if r == nil || r.Pipeline == "" {
		return 0, errors.New("start run: the run names no pipeline")
	}
	outcome := r.Outcome
	if outcome == "" {
		outcome = "running"
	}
	var id int64
	err := q.pool.QueryRow(ctx, `INSERT INTO runs (pipeline, trigger_name, tick, started_at, ended_at, outcome, error, nodes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		r.Pipeline, r.Trigger, pgTime(utc(r.Tick)), orNow(r.Started, q.clock), pgTime(utc(r.Ended)), outcome, r.Error, blob(r.Nodes)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("start run of %s: %w", r.Pipeline, err)
	}
	return id, nil
}

func (q *pgQueue) EndRun(ctx context.Context, r *RunRecord) error {
	if r == nil {
		return errors.New("end run: no run")
	}
	err := pgAffected(q.pool.Exec(ctx, `UPDATE runs SET ended_at = $1, outcome = $2, error = $3, nodes = $4 WHERE id = $5`,
		orNow(r.Ended, q.clock), r.Outcome, r.Error, blob(r.Nodes), r.ID))
	if err != nil {
		return fmt.Errorf("end run %d: %w", r.ID, err)
	}
	return nil
}

func (q *pgQueue) ListRuns(ctx context.Context, f RunFilter) ([]*RunRecord, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR trigger_name = $2)
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

func (q *pgQueue) Run(ctx context.Context, id int64) (*RunRecord, error) {
	r, err := scanRun(q.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

func (q *pgQueue) ClaimTick(ctx context.Context, pipeline, trigger string, at time.Time) (bool, error) {
	tag, err := q.pool.Exec(ctx, `INSERT INTO ticks (pipeline, trigger_name, tick, claimed_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		pipeline, trigger, utc(at), q.clock.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("claim tick %s of %s/%s: %w", at.Format(time.RFC3339), pipeline, trigger, err)
	}
	return tag.RowsAffected() == 1, nil
}

func (q *pgQueue) LastTick(ctx context.Context, pipeline, trigger string) (time.Time, bool, error) {
	var at optInstant
	if err := q.pool.QueryRow(ctx, `SELECT MAX(tick) FROM ticks WHERE pipeline = $1 AND trigger_name = $2`, pipeline, trigger).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("last tick of %s/%s: %w", pipeline, trigger, err)
	}
	return at.Time(), !at.Time().IsZero(), nil
}

func (q *pgQueue) Checkpoint(ctx context.Context, pipeline, source string) (string, bool, error) {
	var v string
	switch err := q.pool.QueryRow(ctx, `SELECT value FROM checkpoints WHERE pipeline = $1 AND source = $2`, pipeline, source).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("checkpoint of %s/%s: %w", pipeline, source, err)
	}
	return v, true, nil
}

func (q *pgQueue) SaveCheckpoint(ctx context.Context, pipeline, source, value string) error {
	_, err := q.pool.Exec(ctx, `INSERT INTO checkpoints (pipeline, source, value, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (pipeline, source) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		pipeline, source, value, q.clock.Now().UTC())
	if err != nil {
		return fmt.Errorf("save checkpoint of %s/%s: %w", pipeline, source, err)
	}
	return nil
}

func (q *pgQueue) AddAudit(ctx context.Context, e *AuditEntry) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	_, err := q.pool.Exec(ctx, `INSERT INTO audit (at, actor, action, subject, reason, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		orNow(e.At, q.clock), e.Actor, e.Action, e.Subject, e.Reason, blob(e.Detail))
	if err != nil {
		return fmt.Errorf("audit %s of %s: %w", e.Action, e.Subject, err)
	}
	return nil
}

func (q *pgQueue) ListAudit(ctx context.Context, subject string, n int) ([]*AuditEntry, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit WHERE $1 = '' OR subject = $1 ORDER BY id DESC`+limit(n), subject)
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

func (q *pgQueue) Close() error {
	q.pool.Close()
	return nil
}
