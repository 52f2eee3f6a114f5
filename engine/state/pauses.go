package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Pause is a pipeline, or one of its triggers, an operator paused: a
// paused pipeline still acknowledges and queues its webhooks but runs
// nothing; a paused trigger's ticks (or webhooks' runs) wait likewise.
type Pause struct {
	Pipeline string
	Trigger  string // "" for the whole pipeline
	At       time.Time
	By       string
	Reason   string
}

// Pauses keeps what is paused, in the store, so every serve process on it
// and every restart sees it.
type Pauses interface {
	// SetPause pauses; pausing what is paused already keeps the first.
	SetPause(ctx context.Context, p *Pause) error
	// ClearPause resumes; false when it was not paused.
	ClearPause(ctx context.Context, pipeline, trigger string) (bool, error)
	// ListPauses lists every pause, by pipeline and trigger.
	ListPauses(ctx context.Context) ([]*Pause, error)
}

func checkPause(p *Pause) error {
	if p.Pipeline == "" || p.By == "" {
		return errors.New("a pause needs a pipeline and who pauses it")
	}
	return nil
}

func (q *sqliteQueue) SetPause(ctx context.Context, p *Pause) error {
	if err := checkPause(p); err != nil {
		return err
	}
	return q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO pauses (pipeline, trigger_name, paused_at, paused_by, reason) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (pipeline, trigger_name) DO NOTHING`, p.Pipeline, p.Trigger, orNow(p.At, q.clock).UnixMicro(), p.By, p.Reason)
		return err
	})
}

func (q *sqliteQueue) ClearPause(ctx context.Context, pipeline, trigger string) (bool, error) {
	var n int64
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `DELETE FROM pauses WHERE pipeline = ? AND trigger_name = ?`, pipeline, trigger)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n > 0, err
}

func (q *sqliteQueue) ListPauses(ctx context.Context) ([]*Pause, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT pipeline, trigger_name, paused_at, paused_by, reason FROM pauses ORDER BY pipeline, trigger_name`)
	if err != nil {
		return nil, fmt.Errorf("pauses: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanPause)
}

func scanPause(scan scanFunc) (*Pause, error) {
	p := &Pause{}
	var at instant
	if err := scan(&p.Pipeline, &p.Trigger, &at, &p.By, &p.Reason); err != nil {
		return nil, err
	}
	p.At = at.Time()
	return p, nil
}

func (q *pgQueue) SetPause(ctx context.Context, p *Pause) error {
	if err := checkPause(p); err != nil {
		return err
	}
	_, err := q.pool.Exec(ctx, `INSERT INTO pauses (pipeline, trigger_name, paused_at, paused_by, reason) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (pipeline, trigger_name) DO NOTHING`, p.Pipeline, p.Trigger, orNow(p.At, q.clock), p.By, p.Reason)
	return err
}

func (q *pgQueue) ClearPause(ctx context.Context, pipeline, trigger string) (bool, error) {
	tag, err := q.pool.Exec(ctx, `DELETE FROM pauses WHERE pipeline = $1 AND trigger_name = $2`, pipeline, trigger)
	return err == nil && tag.RowsAffected() > 0, err
}

func (q *pgQueue) ListPauses(ctx context.Context) ([]*Pause, error) {
	rows, err := q.pool.Query(ctx, `SELECT pipeline, trigger_name, paused_at, paused_by, reason FROM pauses ORDER BY pipeline, trigger_name`)
	if err != nil {
		return nil, fmt.Errorf("pauses: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanPause)
}
