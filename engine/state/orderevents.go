package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// OrderEvent is one thing serve did with an order, for its timeline.
type OrderEvent struct {
	Ref    string // the order's id, as its payload gives it
	At     time.Time
	Kind   string // received, processed, retry queued, retried, dead letter
	Detail string
}

// OrderEventsKept is how long order events are kept.
const OrderEventsKept = 7 * 24 * time.Hour

// OrderEvents keep each order's timeline.
type OrderEvents interface {
	// AddOrderEvents appends events (a zero At is now) and drops those
	// older than OrderEventsKept.
	AddOrderEvents(ctx context.Context, es []OrderEvent) error
	// OrderEventsOf lists an order's events, oldest first.
	OrderEventsOf(ctx context.Context, ref string) ([]OrderEvent, error)
}

func scanOrderEvent(scan scanFunc) (*OrderEvent, error) {
	e := &OrderEvent{}
	var at instant
	if err := scan(&e.Ref, &at, &e.Kind, &e.Detail); err != nil {
		return nil, err
	}
	e.At = at.Time()
	return e, nil
}

func (q *sqliteQueue) AddOrderEvents(ctx context.Context, es []OrderEvent) error {
	if len(es) == 0 {
		return nil
	}
	return q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		now := q.clock.Now()
		for _, e := range es {
			if _, err := c.ExecContext(ctx, `INSERT INTO order_events (ref, at, kind, detail) VALUES (?, ?, ?, ?)`,
				e.Ref, orNow(e.At, q.clock).UnixMicro(), e.Kind, e.Detail); err != nil {
				return err
			}
		}
		_, err := c.ExecContext(ctx, `DELETE FROM order_events WHERE at < ?`, now.Add(-OrderEventsKept).UnixMicro())
		return err
	})
}

func (q *sqliteQueue) OrderEventsOf(ctx context.Context, ref string) ([]OrderEvent, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT ref, at, kind, detail FROM order_events WHERE ref = ? ORDER BY id`, ref)
	if err != nil {
		return nil, fmt.Errorf("events of order %s: %w", ref, err)
	}
	defer rows.Close()
	ps, err := collect(rows, scanOrderEvent)
	return deref(ps), err
}

func (q *pgQueue) AddOrderEvents(ctx context.Context, es []OrderEvent) error {
	if len(es) == 0 {
		return nil
	}
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, e := range es {
		if _, err := tx.Exec(ctx, `INSERT INTO order_events (ref, at, kind, detail) VALUES ($1, $2, $3, $4)`,
			e.Ref, orNow(e.At, q.clock), e.Kind, e.Detail); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM order_events WHERE at < $1`, q.clock.Now().Add(-OrderEventsKept)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (q *pgQueue) OrderEventsOf(ctx context.Context, ref string) ([]OrderEvent, error) {
	rows, err := q.pool.Query(ctx, `SELECT ref, at, kind, detail FROM order_events WHERE ref = $1 ORDER BY id`, ref)
	if err != nil {
		return nil, fmt.Errorf("events of order %s: %w", ref, err)
	}
	defer rows.Close()
	ps, err := collect(rows, scanOrderEvent)
	return deref(ps), err
}

func deref(ps []*OrderEvent) []OrderEvent {
	out := make([]OrderEvent, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}
