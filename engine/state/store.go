package state

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// Store is an inventory store as the engine holds it: what kinds see
// (component.Inventory) plus what only its owner may do.
type Store interface {
	component.Inventory
	component.GroupApplier
	component.KeyLog
	// RecentExplanations returns the last n allocation decisions recorded
	// with an explanation, newest first: a rules backtest decides them
	// again.
	RecentExplanations(ctx context.Context, n int) ([]component.Explanation, error)
	// ExpireReservations deletes the reservations that have expired. They
	// stopped counting when they expired; this only reclaims the rows.
	ExpireReservations(ctx context.Context) (int, error)
	// Close releases the database.
	Close() error
}

// Options configure a store.
type Options struct {
	// Clock decides when reservations expire and stamps every record;
	// the wall clock when nil.
	Clock component.Clock
	// migrateTo stops the migrations at this version (0: all of them), so
	// tests can build a store as an older pipectl left it.
	migrateTo int
}

// DefaultDir is where the embedded store keeps its database when Open is
// given no URL: relative to the working directory, like a git repository's
// .git.
const DefaultDir = ".pipectl"

// Open opens the store a URL names, creating and migrating it as needed:
//
//	""                     SQLite in ./.pipectl/state.db
//	sqlite://PATH          SQLite in PATH (a directory gets state.db in it)
//	postgres://… or postgresql://…   PostgreSQL (pgx connection string;
//	                       search_path and pool_max_conns are honoured)
func Open(ctx context.Context, url string, opts Options) (Store, error) {
	if opts.Clock == nil {
		opts.Clock = component.SystemClock{}
	}
	switch {
	case url == "":
		return openSQLite(ctx, filepath.Join(DefaultDir, "state.db"), opts)
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("state url %q names no file", url)
		}
		return openSQLite(ctx, path, opts)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url, opts)
	}
	return nil, fmt.Errorf("state url %q: want sqlite://PATH or postgres://…", redactURL(url))
}

// redactURL hides the passwords in a URL for messages: the userinfo's and
// those given as query parameters (?password=, ?sslpassword=).
func redactURL(u string) string {
	for _, pw := range urlPasswords(u) {
		u = strings.ReplaceAll(u, pw, component.Redacted)
	}
	return u
}

// urlPasswords lists the passwords a URL carries, as written in it and
// decoded, longest first.
func urlPasswords(u string) []string {
	var out []string
	add := func(v string) {
		if v != "" {
			out = append(out, v)
			if dec, err := neturl.QueryUnescape(v); err == nil && dec != v {
				out = append(out, dec)
			}
		}
	}
	if at, scheme := strings.LastIndex(u, "@"), strings.Index(u, "://"); at >= 0 && scheme >= 0 && at > scheme {
		cred := u[scheme+3 : at]
		if q := strings.IndexAny(cred, "/?"); q < 0 {
			if i := strings.Index(cred, ":"); i >= 0 {
				add(cred[i+1:])
			}
		}
	}
	if _, query, ok := strings.Cut(u, "?"); ok {
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k = strings.ToLower(k); k == "password" || k == "sslpassword" {
				add(v)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactedError is err with the passwords of url masked in its message:
// drivers quote the connection string, or parts of it, in their errors.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactError(url string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, pw := range urlPasswords(url) {
		msg = strings.ReplaceAll(msg, pw, component.Redacted)
	}
	return &redactedError{msg, err}
}

// scale is the number of decimal places quantities keep (DOMAIN.md §2.1).
const scale = 4

// maxUnits bounds stored quantities (10^11 whole units) so that sums of a
// few of them cannot overflow int64.
const maxUnits = int64(1e15)

// toUnits converts a quantity to ten-thousandths.
func toUnits(d decimal.Decimal) (int64, error) {
	if d.Exponent() < -scale && !d.Equal(d.Truncate(scale)) {
		return 0, fmt.Errorf("%s has more than %d decimal places: %w", d, scale, component.ErrInvalidQuantity)
	}
	s := d.Shift(scale)
	if s.Abs().Cmp(decimal.NewFromInt(maxUnits)) > 0 {
		return 0, fmt.Errorf("%s is out of range: %w", d, component.ErrInvalidQuantity)
	}
	return s.IntPart(), nil
}

// fromUnits converts ten-thousandths to a decimal, without trailing zeros.
func fromUnits(n int64) decimal.Decimal {
	e := int32(-scale)
	for e < 0 && n%10 == 0 {
		n /= 10
		e++
	}
	return decimal.New(n, e)
}

// wholeUnits reports whether a quantity in ten-thousandths is a whole number.
func wholeUnits(n int64) bool { return n%10000 == 0 }

// stockRow is a stock row as read under lock, quantities in units.
type stockRow struct {
	sku, location             string
	onHand, committed, safety int64
	backordered               int64
	reserved                  int64 // unexpired reservations counted
	exists                    bool
}

func (r stockRow) available() int64 { return r.onHand - r.committed - r.reserved - r.safety }

func (r stockRow) level() component.Level {
	return component.Level{
		SKU: r.sku, Location: r.location,
		OnHand: fromUnits(r.onHand), Committed: fromUnits(r.committed),
		Reserved: fromUnits(r.reserved), SafetyStock: fromUnits(r.safety),
		Backordered: fromUnits(r.backordered), Exists: r.exists,
	}
}

func snapshot(now time.Time, rows []stockRow) component.Snapshot {
	s := component.Snapshot{Now: now, Levels: make([]component.Level, len(rows))}
	for i, r := range rows {
		s.Levels[i] = r.level()
	}
	return s
}

// refRange is the byte-wise range of the refs "<order>/...": from
// order + "/" up to order + "0", the byte after '/'.
func refRange(order string) (lo, hi string) { return order + "/", order + "0" }

// requestSKUs checks a request and returns its SKUs sorted, without
// duplicates: the order rows are locked in.
func requestSKUs(req component.ApplyRequest) ([]string, error) {
	if req.IdempotencyKey == "" {
		return nil, errors.New("apply: the idempotency key is empty")
	}
	skus := slices.Clone(req.SKUs)
	slices.Sort(skus)
	skus = slices.Compact(skus)
	if len(skus) > 0 && skus[0] == "" {
		return nil, errors.New("apply: a SKU is empty")
	}
	return skus, nil
}

// rowChange is the net change an outcome makes to one stock row.
type rowChange struct {
	before              stockRow
	dOnHand, dCommitted int64
	// dBackordered is added to backordered, which stays at zero or more.
	dBackordered int64
	// allowNegative: an adjustment of the change may take the row below
	// zero (Adjustment.AllowNegative), so it may leave uncovered what it
	// takes beyond stock.
	allowNegative bool
}

// uncoveredGrowth is how far this change may raise the row's uncovered
// units (the stock_no_oversell check: committed − backordered ≤ on_hand +
// uncovered). Two kinds of change may:
//
//   - one the rules explicitly let go below zero (AllowNegative: a
//     backorder not marked as one, negative_on_hand), by what it takes
//     beyond stock;
//   - a decrease of on_hand that allocates nothing (a shipment, which
//     records what left the building and must never be refused), by that
//     decrease.
//
// Any other change that raises the allocated part (committed −
// backordered), an ordinary allocation above all, may not raise it at
// all, so one that would commit units not on hand fails the check, on the
// row's values as the database holds them rather than as decide saw them.
// The statements set uncovered to the smaller of this bound and the row's
// real gap, so it never exceeds what is really missing.
func (c rowChange) uncoveredGrowth() int64 {
	bo := max(0, c.before.backordered+c.dBackordered)
	dAllocated := c.dCommitted - (bo - c.before.backordered)
	switch {
	case c.allowNegative:
		return max(0, dAllocated) + max(0, -c.dOnHand)
	case dAllocated > 0 || c.dOnHand >= 0:
		return 0
	}
	return -c.dOnHand
}

// OversellError is what Apply and ApplyGroup return when the database's
// last defence, the check stock_no_oversell (migration no_oversell),
// refuses a change: the allocated part of a row (committed − backordered)
// would exceed what is on hand, beyond the units a stock count or a
// shipment already left uncovered. It means the code deciding the change
// is wrong, so it is neither retried nor taken for an ordinary shortfall
// (it does not match component.ErrInsufficientStock); the event's whole
// transaction (its savepoint in a group) is rolled back. Err is the
// driver's error (SQLSTATE 23514 on PostgreSQL).
type OversellError struct {
	SKU, Location string
	// OnHand and Allocated are the row as the change would leave it, in
	// the store's units.
	OnHand, Allocated int64
	Err               error
}

func (e *OversellError) Error() string {
	return fmt.Sprintf("%s at %s: the database refused to commit %s allocated units with %s on hand (check stock_no_oversell); nothing of the event was applied: %v",
		e.SKU, e.Location, fromUnits(e.Allocated), fromUnits(e.OnHand), e.Err)
}

func (e *OversellError) Unwrap() error { return e.Err }

// oversellError wraps err, a refused write of c, as an *OversellError when
// the check stock_no_oversell refused it.
func oversellError(c rowChange, err error, refused bool) error {
	if !refused {
		return fmt.Errorf("stock %s at %s: %w", c.before.sku, c.before.location, err)
	}
	r := c.before
	bo := max(0, r.backordered+c.dBackordered)
	return &OversellError{SKU: r.sku, Location: r.location, OnHand: r.onHand + c.dOnHand, Allocated: r.committed + c.dCommitted - bo, Err: err}
}

// movement is a ledger entry to write.
type movement struct {
	sku, location, bucket string
	delta                 int64
	reason, ref           string
}

// plan checks an outcome against the locked rows and returns the net change per row in (sku, location)
// order, and the ledger entries, one per adjustment.
func plan(req component.ApplyRequest, skus []string, rows []stockRow, out component.Outcome) ([]rowChange, []movement, error) {
	type acc struct {
		rowChange
		allowNeg bool
	}
	byKey := map[component.StockKey]*acc{}
	for _, r := range rows {
		byKey[component.StockKey{SKU: r.sku, Location: r.location}] = &acc{rowChange: rowChange{before: r}}
	}
	var moves []movement
	for i, a := range out.Adjustments {
		if _, ok := slices.BinarySearch(skus, a.SKU); !ok {
			return nil, nil, fmt.Errorf("adjustment %d: SKU %q is not in the request, so its stock is not locked", i+1, a.SKU)
		}
		if a.Location == "" {
			return nil, nil, fmt.Errorf("adjustment %d (%s): the location is empty", i+1, a.SKU)
		}
		d, err := toUnits(a.Delta)
		if err != nil {
			return nil, nil, fmt.Errorf("adjustment %d (%s at %s): %w", i+1, a.SKU, a.Location, err)
		}
		if d == 0 {
			continue
		}
		k := component.StockKey{SKU: a.SKU, Location: a.Location}
		c := byKey[k]
		if c == nil {
			c = &acc{rowChange: rowChange{before: stockRow{sku: a.SKU, location: a.Location}}}
			byKey[k] = c
		}
		switch a.Bucket {
		case component.OnHand:
			c.dOnHand += d
		case component.Committed:
			c.dCommitted += d
			if a.Backorder {
				c.dBackordered += d
			}
		default:
			return nil, nil, fmt.Errorf("adjustment %d (%s at %s): bucket %q cannot be adjusted by an order; want on_hand or committed", i+1, a.SKU, a.Location, a.Bucket)
		}
		c.allowNeg = c.allowNeg || a.AllowNegative
		moves = append(moves, movement{sku: a.SKU, location: a.Location, bucket: string(a.Bucket), delta: d, reason: a.Reason, ref: a.Ref})
	}
	var changes []rowChange
	for _, c := range byKey {
		if c.dOnHand == 0 && c.dCommitted == 0 && c.dBackordered == 0 {
			continue
		}
		if !c.allowNeg {
			g := c.rowChange
			if req.IgnoreReservations {
				g.before.reserved = 0
			}
			if err := guard(g); err != nil {
				return nil, nil, err
			}
		}
		c.rowChange.allowNegative = c.allowNeg
		changes = append(changes, c.rowChange)
	}
	sort.Slice(changes, func(i, j int) bool {
		a, b := changes[i].before, changes[j].before
		if a.sku != b.sku {
			return a.sku < b.sku
		}
		return a.location < b.location
	})
	return changes, moves, nil
}

// guard refuses a net change that takes available, on-hand or committed
// below zero, when it lowers them.
func guard(c rowChange) error {
	r := c.before
	dAvail := c.dOnHand - c.dCommitted
	switch {
	case dAvail < 0 && r.available()+dAvail < 0:
		return fmt.Errorf("%s at %s: %s available, the change needs %s: %w",
			r.sku, r.location, fromUnits(r.available()), fromUnits(-dAvail), component.ErrInsufficientStock)
	case c.dOnHand < 0 && r.onHand+c.dOnHand < 0:
		return fmt.Errorf("%s at %s: %s on hand, the change removes %s: %w",
			r.sku, r.location, fromUnits(r.onHand), fromUnits(-c.dOnHand), component.ErrInsufficientStock)
	case c.dCommitted < 0 && r.committed+c.dCommitted < 0:
		return fmt.Errorf("%s at %s: %s committed, the change releases %s: %w",
			r.sku, r.location, fromUnits(r.committed), fromUnits(-c.dCommitted), component.ErrInsufficientStock)
	}
	after := []int64{r.onHand + c.dOnHand, r.committed + c.dCommitted}
	for _, v := range after {
		if v > maxUnits || v < -maxUnits {
			return fmt.Errorf("%s at %s: the change takes a quantity out of range: %w", r.sku, r.location, component.ErrInvalidQuantity)
		}
	}
	return nil
}

// outcomeFormat is the first byte of a stored outcome, for the day the
// format changes.
const outcomeFormat = 1

// storedMeta is the part of a stored outcome that is not records.
type storedMeta struct {
	Adjustments []component.Adjustment `json:"adjustments,omitempty"`
	Release     bool                   `json:"release_reservations,omitempty"`
}

// encodeOutcome is how an outcome is stored for replays: the adjustments as
// JSON, then each record's output and bytes, length-prefixed, so a replay
// returns them byte for byte. The explanation is stored beside it.
func encodeOutcome(out component.Outcome) ([]byte, error) {
	meta, err := json.Marshal(storedMeta{out.Adjustments, out.ReleaseReservations})
	if err != nil {
		return nil, fmt.Errorf("encode outcome: %w", err)
	}
	n := 1 + binary.MaxVarintLen64*2 + len(meta)
	for _, r := range out.Records {
		n += binary.MaxVarintLen64*2 + len(r.Output) + len(r.Data)
	}
	b := make([]byte, 0, n)
	b = append(b, outcomeFormat)
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	b = binary.AppendUvarint(b, uint64(len(out.Records)))
	for _, r := range out.Records {
		b = binary.AppendUvarint(b, uint64(len(r.Output)))
		b = append(b, r.Output...)
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b, nil
}

var errStoredOutcome = errors.New("stored outcome is corrupt")

func decodeOutcome(b, explanation []byte) (component.Outcome, error) {
	out := component.Outcome{Explanation: explanation}
	if len(b) == 0 || b[0] != outcomeFormat {
		return out, errStoredOutcome
	}
	b = b[1:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	meta, ok := next()
	if !ok {
		return out, errStoredOutcome
	}
	var m storedMeta
	if err := json.Unmarshal(meta, &m); err != nil {
		return out, fmt.Errorf("%w: %v", errStoredOutcome, err)
	}
	out.Adjustments, out.ReleaseReservations = m.Adjustments, m.Release
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return out, errStoredOutcome
	}
	b = b[k:]
	out.Records = make([]component.OutputRecord, 0, count)
	for range count {
		o, ok1 := next()
		d, ok2 := next()
		if !ok1 || !ok2 {
			return out, errStoredOutcome
		}
		out.Records = append(out.Records, component.OutputRecord{Output: string(o), Data: slices.Clone(d)})
	}
	if len(b) != 0 {
		return out, errStoredOutcome
	}
	return out, nil
}

// feedUpdate is a checked LevelUpdate.
type feedUpdate struct {
	component.LevelUpdate
	column string // on_hand or safety_stock
	units  int64
}

func checkUpdate(u component.LevelUpdate, set bool) (feedUpdate, error) {
	f := feedUpdate{LevelUpdate: u}
	what := "adjust"
	if set {
		what = "set"
	}
	switch {
	case u.Key == "" && !set:
		return f, fmt.Errorf("%s level of %s at %s: the idempotency key is empty", what, u.SKU, u.Location)
	case u.SKU == "" || u.Location == "":
		return f, fmt.Errorf("%s level: SKU and location are required (got %q at %q)", what, u.SKU, u.Location)
	case u.By != nil && strings.TrimSpace(u.By.Actor) == "":
		return f, fmt.Errorf("%s level of %s at %s: the change for the audit log names no actor", what, u.SKU, u.Location)
	}
	switch u.Bucket {
	case "", component.OnHand:
		f.Bucket, f.column = component.OnHand, "on_hand"
	case component.SafetyStock:
		f.column = "safety_stock"
	default:
		return f, fmt.Errorf("%s level of %s at %s: bucket %q cannot be fed; want on_hand or safety_stock", what, u.SKU, u.Location, u.Bucket)
	}
	n, err := toUnits(u.Quantity)
	if err != nil {
		return f, fmt.Errorf("%s level of %s at %s: %w", what, u.SKU, u.Location, err)
	}
	f.units = n
	return f, nil
}

// feedResult computes the new value of a fed bucket, refusing a fraction
// for a SKU counted in whole units and a negative safety stock.
func feedResult(f feedUpdate, set bool, old int64, qtyDecimal bool) (int64, error) {
	if !qtyDecimal && !wholeUnits(f.units) {
		return 0, fmt.Errorf("%s at %s: %s is fractional and the SKU is counted in whole units: %w", f.SKU, f.Location, f.Quantity, component.ErrInvalidQuantity)
	}
	v := f.units
	if !set {
		v = old + f.units
	}
	if v > maxUnits || v < -maxUnits {
		return 0, fmt.Errorf("%s at %s: %s %s is out of range: %w", f.SKU, f.Location, f.column, fromUnits(v), component.ErrInvalidQuantity)
	}
	if f.Bucket == component.SafetyStock && v < 0 {
		return 0, fmt.Errorf("%s at %s: safety stock %s is negative: %w", f.SKU, f.Location, fromUnits(v), component.ErrInvalidQuantity)
	}
	return v, nil
}

func checkReservation(r component.Reservation) (int64, error) {
	switch {
	case r.ID == "":
		return 0, errors.New("reserve: the reservation id is empty")
	case r.SKU == "" || r.Location == "":
		return 0, fmt.Errorf("reserve %s: SKU and location are required", r.ID)
	case r.ExpiresAt.IsZero():
		return 0, fmt.Errorf("reserve %s: no expiry", r.ID)
	}
	n, err := toUnits(r.Quantity)
	if err != nil {
		return 0, fmt.Errorf("reserve %s: %w", r.ID, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("reserve %s: quantity %s is not positive: %w", r.ID, r.Quantity, component.ErrInvalidQuantity)
	}
	return n, nil
}

// reserveGuard refuses a reservation larger than what is available.
func reserveGuard(r component.Reservation, row stockRow, n int64, qtyDecimal bool) error {
	if !qtyDecimal && !wholeUnits(n) {
		return fmt.Errorf("reserve %s: %s is fractional and %s is counted in whole units: %w", r.ID, r.Quantity, r.SKU, component.ErrInvalidQuantity)
	}
	if row.available() < n {
		return fmt.Errorf("reserve %s: %s at %s has %s available, %s asked: %w",
			r.ID, r.SKU, r.Location, fromUnits(row.available()), r.Quantity, component.ErrInsufficientStock)
	}
	return nil
}

// locationJSON and skuJSON are the audit log's old and new values.
func locationJSON(l *component.Location) string {
	if l == nil {
		return ""
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func skuJSON(s *component.SKU) string {
	if s == nil {
		return ""
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func componentsJSON(cs []component.Component) (string, error) {
	if len(cs) == 0 {
		return "", nil
	}
	for _, c := range cs {
		if c.SKU == "" {
			return "", errors.New("a kit component has no SKU")
		}
		n, err := toUnits(c.Quantity)
		if err != nil {
			return "", fmt.Errorf("kit component %s: %w", c.SKU, err)
		}
		if n <= 0 {
			return "", fmt.Errorf("kit component %s: quantity %s is not positive: %w", c.SKU, c.Quantity, component.ErrInvalidQuantity)
		}
	}
	b, err := json.Marshal(cs)
	return string(b), err
}

func parseComponents(s string) ([]component.Component, error) {
	if s == "" {
		return nil, nil
	}
	var cs []component.Component
	if err := json.Unmarshal([]byte(s), &cs); err != nil {
		return nil, fmt.Errorf("stored kit components: %w", err)
	}
	return cs, nil
}

func checkLocation(l component.Location) error {
	if l.ID == "" {
		return errors.New("set location: the id is empty")
	}
	if c := l.Coords; c != nil && (c.Lat < -90 || c.Lat > 90 || c.Lng < -180 || c.Lng > 180) {
		return fmt.Errorf("set location %s: coordinates %v,%v are out of range", l.ID, c.Lat, c.Lng)
	}
	return nil
}

func checkChange(c component.RuleChange) error {
	if c.Rule == "" || c.Actor == "" {
		return fmt.Errorf("rule change: rule and actor are required (got %q by %q)", c.Rule, c.Actor)
	}
	return nil
}

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

//go:embed migrations
var migrationFiles embed.FS

// migrations lists a database's migrations in order: files named
// NNNN_name.sql under migrations/<dialect>.
func migrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(migrationFiles, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && out[len(out)-1].version >= v {
			return nil, fmt.Errorf("migration %s: versions must increase", name)
		}
		out = append(out, migration{version: v, name: rest, sql: string(b)})
	}
	return out, nil
}

// pending returns the migrations after the applied version, up to
// version upTo (0: all), refusing a database newer than this binary.
func pending(all []migration, applied, upTo int) ([]migration, error) {
	if n := len(all); n > 0 && applied > all[n-1].version {
		return nil, fmt.Errorf("state schema is at version %d, newer than this pipectl knows (%d): upgrade pipectl", applied, all[n-1].version)
	}
	var out []migration
	for _, m := range all {
		if m.version > applied && (upTo == 0 || m.version <= upTo) {
			out = append(out, m)
		}
	}
	return out, nil
}

// backorderedVersion is the migration that adds stock.backordered; once
// it is applied, backfillBackordered fills it in from the ledger.
const backorderedVersion = 4

// committedEntry is a committed ledger entry, as backfillBackordered
// reads them in ledger order.
type committedEntry struct {
	ref, sku, location, reason string
	delta                      int64
}

// backorderedRows folds the committed ledger into the backordered units
// each stock row holds, per order line as the stock events read them
// (allocation.Holdings): a positive entry of reason backorder books a
// backorder, any other positive one an allocation; a negative entry of
// reason cancel (a cancelled backorder) settles the backorder first,
// any other (deallocate, ship) the allocation first. Rows holding none
// are left out.
func backorderedRows(entries []committedEntry) map[component.StockKey]int64 {
	type holding struct{ ref, sku, location string }
	type held struct{ allocated, backordered int64 }
	hs := map[holding]*held{}
	for _, e := range entries {
		if e.ref == "" {
			continue
		}
		k := holding{e.ref, e.sku, e.location}
		h := hs[k]
		if h == nil {
			h = &held{}
			hs[k] = h
		}
		if e.delta > 0 {
			if e.reason == "backorder" {
				h.backordered += e.delta
			} else {
				h.allocated += e.delta
			}
			continue
		}
		x := -e.delta
		first, second := &h.allocated, &h.backordered
		if e.reason == "cancel" {
			first, second = second, first
		}
		take := min(x, max(*first, 0))
		*first -= take
		*second -= x - take
	}
	out := map[component.StockKey]int64{}
	for k, h := range hs {
		if h.backordered > 0 {
			out[component.StockKey{SKU: k.sku, Location: k.location}] += h.backordered
		}
	}
	return out
}

// conflictError reports a key used again for different content, or nil
// when the fingerprints agree or either is unknown.
func conflictError(key, stored, requested string) error {
	if stored == "" || requested == "" || stored == requested {
		return nil
	}
	return fmt.Errorf("%s was applied before to different content, so this is no replay of it: %w", key, component.ErrConflict)
}

// feedFingerprint is what a feed update's key stands for: mode, row,
// bucket and quantity.
func feedFingerprint(f feedUpdate, set bool) string {
	mode := "adjust"
	if set {
		mode = "set"
	}
	h := sha256.New()
	for _, p := range []string{mode, f.SKU, f.Location, string(f.Bucket), strconv.FormatInt(f.units, 10)} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// levelChange is the audit log entry of a feed update made by hand
// (LevelUpdate.By): the bucket's old value ("" for a new row) and new.
func levelChange(f feedUpdate, existed bool, old, v int64, at time.Time) component.RuleChange {
	c := component.RuleChange{
		Rule: "level/" + f.SKU + "@" + f.Location, Actor: f.By.Actor, Reason: f.By.Reason, At: at,
		New: string(f.Bucket) + "=" + fromUnits(v).String(),
	}
	if existed {
		c.Old = string(f.Bucket) + "=" + fromUnits(old).String()
	}
	return c
}
