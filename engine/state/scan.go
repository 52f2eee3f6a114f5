package state

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

// The readers below turn one result row into a record. Both stores select
// the same columns in the same order and hand in their row's Scan, so the
// mapping from columns to records is written once: *sql.Rows.Scan,
// *sql.Row.Scan, pgx.Rows.Scan and pgx.Row.Scan all fit scanFunc.

// scanFunc scans the current row's columns into dest.
type scanFunc func(dest ...any) error

// resultSet is what database/sql's *sql.Rows and pgx.Rows have in common.
type resultSet interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// collect reads every remaining row of rows with read. The caller still
// closes rows: database/sql and pgx disagree on Close's signature.
func collect[T any](rows resultSet, read func(scanFunc) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := read(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// instant scans a point in time as either store keeps it: SQLite as
// microseconds since the epoch, PostgreSQL as timestamptz (pgx hands
// sql.Scanner targets a time.Time).
type instant time.Time

func (t *instant) Scan(v any) error {
	switch v := v.(type) {
	case int64:
		*t = instant(time.UnixMicro(v).UTC())
	case time.Time:
		*t = instant(v.UTC())
	default:
		return fmt.Errorf("a time cannot be read from %T", v)
	}
	return nil
}

// Time is the instant in UTC.
func (t instant) Time() time.Time { return time.Time(t) }

const locationColumns = `id, name, priority, market, lat, lng, pickup, disabled`

func scanLocation(scan scanFunc) (component.Location, error) {
	var l component.Location
	var lat, lng sql.NullFloat64
	if err := scan(&l.ID, &l.Name, &l.Priority, &l.Market, &lat, &lng, &l.Pickup, &l.Disabled); err != nil {
		return l, err
	}
	if lat.Valid && lng.Valid {
		l.Coords = &component.LatLng{Lat: lat.Float64, Lng: lng.Float64}
	}
	return l, nil
}

// coords are a location's coordinates as nullable columns.
func coords(l component.Location) (lat, lng sql.NullFloat64) {
	if l.Coords != nil {
		return sql.NullFloat64{Float64: l.Coords.Lat, Valid: true}, sql.NullFloat64{Float64: l.Coords.Lng, Valid: true}
	}
	return
}

const skuColumns = `sku, tracked, qty_decimal, components`

func scanSKU(scan scanFunc) (component.SKU, error) {
	var c component.SKU
	var comps string
	if err := scan(&c.SKU, &c.Tracked, &c.QtyDecimal, &comps); err != nil {
		return c, err
	}
	var err error
	if c.Components, err = parseComponents(comps); err != nil {
		return c, fmt.Errorf("settings of %s: %w", c.SKU, err)
	}
	return c, nil
}

// levelColumns are the stock columns a level is made of; the reserved
// quantity follows them, computed by each store's own subquery.
const levelColumns = `s.sku, s.location, s.on_hand, s.committed, s.safety_stock, s.backordered`

func scanLevel(scan scanFunc) (component.Level, error) {
	r := stockRow{exists: true}
	if err := scan(&r.sku, &r.location, &r.onHand, &r.committed, &r.safety, &r.backordered, &r.reserved); err != nil {
		return component.Level{}, err
	}
	return r.level(), nil
}

const reservationColumns = `id, sku, location, qty, expires_at, ref`

func scanReservation(scan scanFunc) (component.Reservation, error) {
	var r component.Reservation
	var qty int64
	var exp instant
	err := scan(&r.ID, &r.SKU, &r.Location, &qty, &exp, &r.Ref)
	r.Quantity, r.ExpiresAt = fromUnits(qty), exp.Time()
	return r, err
}

const ruleChangeColumns = `seq, rule, actor, at, old_value, new_value, reason`

func scanRuleChange(scan scanFunc) (component.RuleChange, error) {
	var c component.RuleChange
	var at instant
	err := scan(&c.Seq, &c.Rule, &c.Actor, &at, &c.Old, &c.New, &c.Reason)
	c.At = at.Time()
	return c, err
}

const explanationColumns = `ref, key, applied_at, explanation`

func scanExplanation(scan scanFunc) (component.Explanation, error) {
	var e component.Explanation
	var at instant
	err := scan(&e.Ref, &e.IdempotencyKey, &at, &e.Data)
	e.At = at.Time()
	return e, err
}

const movementColumns = `seq, sku, location, bucket, delta, reason, ref, key, at`

func scanMovement(scan scanFunc) (component.Movement, error) {
	var m component.Movement
	var delta int64
	var bucket string
	var at instant
	err := scan(&m.Seq, &m.SKU, &m.Location, &bucket, &delta, &m.Reason, &m.Ref, &m.Key, &at)
	m.Bucket, m.Delta, m.At = component.Bucket(bucket), fromUnits(delta), at.Time()
	return m, err
}
