package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Node is one `pipectl serve` process as it last reported itself: what
// `pipectl cluster status` and the console list. Every process on a store
// reports every few seconds (serve's heartbeat), so a node whose Seen is
// old has stopped or lost the store.
type Node struct {
	Name    string // host and process id
	Roles   string // intake,worker,scheduler
	Listen  string // the address it serves on
	Queue   string // where its intake queue is: sqlite, postgres or jetstream
	Version string // pipectl's version
	Started time.Time
	Seen    time.Time
}

// Nodes keeps the serve processes sharing a store.
type Nodes interface {
	// Heartbeat records n as seen at n.Seen (the store's clock when zero).
	Heartbeat(ctx context.Context, n *Node) error
	// ListNodes lists the nodes recorded, most recently seen first.
	ListNodes(ctx context.Context) ([]*Node, error)
	// RemoveNode forgets a node: it stopped cleanly.
	RemoveNode(ctx context.Context, name string) error
	// ForgetNodes forgets the nodes not seen since before, and says how
	// many there were.
	ForgetNodes(ctx context.Context, before time.Time) (int, error)
}

func checkNode(n *Node) error {
	if n.Name == "" {
		return errors.New("a node needs a name")
	}
	return nil
}

func (q *sqliteQueue) Heartbeat(ctx context.Context, n *Node) error {
	if err := checkNode(n); err != nil {
		return err
	}
	return q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO nodes (name, roles, listen, queue, version, started_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET roles = excluded.roles, listen = excluded.listen, queue = excluded.queue,
				version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at`,
			n.Name, n.Roles, n.Listen, n.Queue, n.Version, orNow(n.Started, q.clock).UnixMicro(), orNow(n.Seen, q.clock).UnixMicro())
		return err
	})
}

func (q *sqliteQueue) ListNodes(ctx context.Context) ([]*Node, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT name, roles, listen, queue, version, started_at, seen_at FROM nodes ORDER BY seen_at DESC, name`)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanNode)
}

func (q *sqliteQueue) RemoveNode(ctx context.Context, name string) error {
	return q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `DELETE FROM nodes WHERE name = ?`, name)
		return err
	})
}

func (q *sqliteQueue) ForgetNodes(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `DELETE FROM nodes WHERE seen_at < ?`, before.UnixMicro())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

func scanNode(scan scanFunc) (*Node, error) {
	n := &Node{}
	var started, seen instant
	if err := scan(&n.Name, &n.Roles, &n.Listen, &n.Queue, &n.Version, &started, &seen); err != nil {
		return nil, err
	}
	n.Started, n.Seen = started.Time(), seen.Time()
	return n, nil
}

func (q *pgQueue) Heartbeat(ctx context.Context, n *Node) error {
	if err := checkNode(n); err != nil {
		return err
	}
	_, err := q.pool.Exec(ctx, `INSERT INTO nodes (name, roles, listen, queue, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (name) DO UPDATE SET roles = excluded.roles, listen = excluded.listen, queue = excluded.queue,
			version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at`,
		n.Name, n.Roles, n.Listen, n.Queue, n.Version, orNow(n.Started, q.clock), orNow(n.Seen, q.clock))
	return err
}

func (q *pgQueue) ListNodes(ctx context.Context) ([]*Node, error) {
	rows, err := q.pool.Query(ctx, `SELECT name, roles, listen, queue, version, started_at, seen_at FROM nodes ORDER BY seen_at DESC, name`)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanNode)
}

func (q *pgQueue) RemoveNode(ctx context.Context, name string) error {
	_, err := q.pool.Exec(ctx, `DELETE FROM nodes WHERE name = $1`, name)
	return err
}

func (q *pgQueue) ForgetNodes(ctx context.Context, before time.Time) (int, error) {
	tag, err := q.pool.Exec(ctx, `DELETE FROM nodes WHERE seen_at < $1`, before)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
