package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Token is a console and API token as the store keeps it: never the
// secret, only its SHA-256 (SecretHash, hex).
type Token struct {
	ID         string // the public part of the token, "pct_ID_SECRET"
	Name       string
	Role       string // viewer, operator, admin
	SecretHash string
	Created    time.Time
	CreatedBy  string
	LastUsed   time.Time // zero: never
	Revoked    time.Time // zero: in force
}

// ErrNoToken is returned for a token id the store does not have.
var ErrNoToken = errors.New("no such token")

// Tokens keeps console and API tokens (package engine/ops makes and
// checks them).
type Tokens interface {
	// AddToken stores t; a name already used is an error.
	AddToken(ctx context.Context, t *Token) error
	// Token returns the token with id, revoked or not, or ErrNoToken.
	Token(ctx context.Context, id string) (*Token, error)
	// ListTokens lists every token, the oldest first.
	ListTokens(ctx context.Context) ([]*Token, error)
	// RevokeToken marks the token with id revoked at at; ErrNoToken when
	// there is none, and revoking twice keeps the first time.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records that the token with id was used at at.
	TouchToken(ctx context.Context, id string, at time.Time) error
}

const tokenColumns = `id, name, role, secret_hash, created_at, created_by, last_used_at, revoked_at`

func scanToken(scan scanFunc) (*Token, error) {
	t := &Token{}
	var created instant
	var used, revoked optInstant
	if err := scan(&t.ID, &t.Name, &t.Role, &t.SecretHash, &created, &t.CreatedBy, &used, &revoked); err != nil {
		return nil, err
	}
	t.Created, t.LastUsed, t.Revoked = created.Time(), used.Time(), revoked.Time()
	return t, nil
}

func checkToken(t *Token) error {
	switch {
	case t.ID == "" || t.SecretHash == "":
		return errors.New("a token needs an id and a secret hash")
	case strings.TrimSpace(t.Name) == "":
		return errors.New("a token needs a name")
	case t.CreatedBy == "":
		return errors.New("who makes a token is required")
	}
	return nil
}

func tokenNameTaken(name string, err error) error {
	if err != nil && (strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "unique") || strings.Contains(err.Error(), "23505")) {
		return fmt.Errorf("a token named %q exists already", name)
	}
	return err
}

func (q *sqliteQueue) AddToken(ctx context.Context, t *Token) error {
	if err := checkToken(t); err != nil {
		return err
	}
	err := q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, 0, 0)`,
			t.ID, t.Name, t.Role, t.SecretHash, orNow(t.Created, q.clock).UnixMicro(), t.CreatedBy)
		return err
	})
	return tokenNameTaken(t.Name, err)
}

func (q *sqliteQueue) Token(ctx context.Context, id string) (*Token, error) {
	t, err := scanToken(q.rdb.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoToken
	}
	return t, err
}

func (q *sqliteQueue) ListTokens(ctx context.Context) ([]*Token, error) {
	rows, err := q.rdb.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanToken)
}

func (q *sqliteQueue) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return q.write(ctx, func(ctx context.Context, c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `UPDATE tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`,
			orNow(at, q.clock).UnixMicro(), id)
		if n, _ := res.RowsAffected(); err == nil && n == 0 {
			return ErrNoToken
		}
		return err
	})
}

func (q *sqliteQueue) TouchToken(ctx context.Context, id string, at time.Time) error {
	return q.writeRelaxed(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, orNow(at, q.clock).UnixMicro(), id)
		return err
	})
}

func (q *pgQueue) AddToken(ctx context.Context, t *Token) error {
	if err := checkToken(t); err != nil {
		return err
	}
	_, err := q.pool.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)`,
		t.ID, t.Name, t.Role, t.SecretHash, orNow(t.Created, q.clock), t.CreatedBy)
	return tokenNameTaken(t.Name, err)
}

func (q *pgQueue) Token(ctx context.Context, id string) (*Token, error) {
	t, err := scanToken(q.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id).Scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoToken
	}
	return t, err
}

func (q *pgQueue) ListTokens(ctx context.Context) ([]*Token, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	return collect(rows, scanToken)
}

func (q *pgQueue) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := q.pool.Exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, orNow(at, q.clock), id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNoToken
	}
	return err
}

func (q *pgQueue) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := q.pool.Exec(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2`, orNow(at, q.clock), id)
	return err
}
