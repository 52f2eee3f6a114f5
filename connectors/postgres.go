package connectors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

var postgresSinkSpec = &component.Spec{
	Kind:    "postgres",
	Section: component.SinkSection,
	Summary: "Upserts each record as a row of a PostgreSQL table by its key: a reporting or ERP staging table.",
	Description: "Each record is one row: `columns` maps each column to an expression, and the row is inserted, or, " +
		"when a row with the same `key` exists, its other columns are updated (INSERT … ON CONFLICT (key) DO UPDATE). " +
		"Running the same records again updates the rows in place rather than adding rows. Rows are written " +
		"`batch_size` at a time, one transaction per batch, in record order, so a record later in a batch wins over " +
		"an earlier one with the same key.\n\n" +
		"The table and a unique index (or primary key) on exactly the `key` columns must exist: the sink never " +
		"creates or alters tables, and says so when either is missing. Table and column names are quoted as " +
		"written, so they are case-sensitive (a table created as `CREATE TABLE Orders` is named `orders`); " +
		"`schema.table` names a table outside the search path.\n\n" +
		"A row the database refuses for good (a constraint it violates, a value its column cannot hold: SQLSTATE " +
		"classes 22 and 23) goes to the sink's `error` output with the database's message, and the rest of its " +
		"batch is written without it. A batch that fails otherwise is rolled back whole: connection failures, " +
		"serialization failures, deadlocks and timeouts are retried up to `max_attempts` with the http sink's " +
		"backoff (under `pipectl serve`, kept and retried later); other errors (a missing table or column, " +
		"missing privileges) send the batch's records to the `error` output.\n\n" +
		"Values are sent as text for PostgreSQL to convert to each column's type: decimals keep every digit, " +
		"times are RFC 3339, arrays, objects and nested mappings are JSON (for json and jsonb columns), null is " +
		"NULL. The URL's password is never printed. Dry runs show each row and connect to nothing.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "PostgreSQL sink settings.",
		Fields: append([]*component.Field{
			{Name: "url", Kind: component.StringField, Required: true,
				Doc: "Connection URL, postgres:// or postgresql://; ${VAR} allowed. Its password is never printed.", Examples: []any{"${STAGING_POSTGRES_URL}"}},
			{Name: "table", Kind: component.StringField, Required: true,
				Doc: "Table to upsert into, `name` or `schema.name`. It must exist, with a unique index on `key`.", Examples: []any{"erp_staging.orders"}},
			{Name: "key", Kind: component.ListField, Required: true, Elem: &component.Field{Kind: component.StringField, Doc: "a column name"},
				Doc: "Columns identifying a row: the conflict target, which a unique index or primary key of the table must cover exactly. Each must be among `columns`.", Examples: []any{[]any{"order_id"}}},
			{Name: "columns", Kind: component.MappingField, Required: true,
				Doc: "Column name to expression; a nested mapping becomes a JSON object, for a json or jsonb column."},
			{Name: "batch_size", Kind: component.IntField, Default: 100, Doc: "Rows written in one transaction."},
			{Name: "timeout", Kind: component.DurationField, Default: 30 * time.Second, Doc: "Timeout of one attempt: connecting, and writing one batch."},
		}, retryFields()...)},
	Validate: validatePostgresSink,
	NewSink:  newPostgresSink,
	Examples: []component.Example{{
		Title: "Order status into an ERP staging table",
		YAML: `sinks:
  staging:
    from: normalize
    postgres:
      url: "${STAGING_POSTGRES_URL}"
      table: erp_staging.orders
      key: [order_id]
      columns:
        order_id: string(id)
        email: lower(email)
        total: decimal(total_price)
        status: financial_status
        updated_at: updated_at`,
	}},
}

// pgIdentifier reports why s cannot be a table or column name as the sink
// takes them, or "" when it can: a letter or underscore, then letters,
// digits, underscores or dollars, at most 63 bytes (PostgreSQL's limit).
func pgIdentifier(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > 63 {
		return "is longer than PostgreSQL's 63 bytes"
	}
	for i, c := range []byte(s) {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '$'):
		default:
			return "is not a name: letters, digits, _ and $, starting with a letter or _"
		}
	}
	return ""
}

// pgTable splits a table setting into its identifier: name or
// schema.name.
func pgTable(s string) (pgx.Identifier, string) {
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return nil, "has more than one dot: write name or schema.name"
	}
	for _, p := range parts {
		if why := pgIdentifier(p); why != "" {
			if len(parts) == 2 {
				return nil, fmt.Sprintf("part %q %s", p, why)
			}
			return nil, why
		}
	}
	return pgx.Identifier(parts), ""
}

func checkPostgresURL(s string) error {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return errors.New("must start with postgres:// or postgresql://")
	}
	return nil
}

func validatePostgresSink(cfg *component.Value, report component.Reporter) {
	if u := cfg.Get("url"); u != nil && !u.Unresolved && u.Str != "" {
		if err := checkPostgresURL(u.Str); err != nil {
			report.Errorf(u, "invalid-value", "url %s %v", pgShown(u.Str, u.Secret), err)
		}
	}
	if t := cfg.Get("table"); t != nil && !t.Unresolved {
		if _, why := pgTable(t.Str); why != "" {
			report.Errorf(t, "invalid-identifier", "table %s %s", quoted(t), why)
		}
	}
	cols := cfg.Get("columns")
	if cols != nil {
		for _, k := range cols.Keys {
			if why := pgIdentifier(k); why != "" {
				report.Errorf(cols.Map[k], "invalid-identifier", "column %q %s", k, why)
			}
		}
	}
	if key := cfg.Get("key"); key != nil {
		if len(key.List) == 0 {
			report.Errorf(key, "missing-field", "key names no column: list the columns identifying a row")
		}
		seen := map[string]bool{}
		for _, k := range key.List {
			switch {
			case pgIdentifier(k.Str) != "":
				report.Errorf(k, "invalid-identifier", "key column %q %s", k.Str, pgIdentifier(k.Str))
			case seen[k.Str]:
				report.Errorf(k, "invalid-value", "key column %q is listed twice", k.Str)
			case cols != nil && cols.Map[k.Str] == nil:
				report.Errorf(k, "unknown-column", "key column %q is not among the columns (%s): the key's values come from there", k.Str, strings.Join(cols.Keys, ", "))
			}
			seen[k.Str] = true
		}
	}
	validateRetry(cfg, report, []string{"batch_size"}, []string{"timeout"})
}

// pgShown is a PostgreSQL URL as messages show it: host, port and
// database, never the user's password.
func pgShown(raw string, secret bool) string {
	if secret {
		return component.Redacted
	}
	return serverName(raw, false)
}

// pgColumn is a column of the row a record makes.
type pgColumn struct {
	name   string
	prog   *exprs.Program
	nested []bodyField // a nested mapping: a JSON object
}

// pgRow is a record's row, its values as text (nil for NULL).
type pgRow struct {
	rec  *record.Record
	args []any
}

// postgresSink upserts the rows records make, batch_size at a time. Write
// evaluates the record's columns on the caller's goroutine and writes a
// batch once it is full, synchronously: a batch is one transaction and one
// round trip, so there is nothing to gain from writing in the background,
// and Flush writes what is left. Building the sink does no I/O: it
// connects on the first batch (parsing the URL may read ~/.pgpass).
type postgresSink struct {
	name      string
	connCfg   *pgx.ConnConfig
	shown     string // the server, as messages show it
	table     pgx.Identifier
	tableName string // the table as written, for messages
	key       []string
	columns   []pgColumn
	sql       string
	batchSize int
	timeout   time.Duration
	retry     retrier
	decode    *record.Projection
	fail      func(*record.Record, error)
	delivered func(sink string, rec *record.Record, detail string)
	secrets   *strings.Replacer

	vm      vm.VM
	dvm     vm.VM // Describe's: dry runs call only Describe, Write only real runs
	conn    *pgx.Conn
	pending []pgRow
	failed  []error
	closed  bool
	stats   deliveryStats
}

func newPostgresSink(ctx component.BuildContext) (component.Sink, error) {
	cfg := ctx.Config
	s := &postgresSink{
		name:      ctx.Name,
		decode:    ctx.Decode,
		fail:      ctx.Fail,
		batchSize: int(intSetting(cfg, "batch_size", 100)),
		timeout:   durSetting(cfg, "timeout", 30*time.Second),
	}
	u := cfg.Get("url")
	if u == nil || u.Str == "" {
		return nil, component.SettingErrorf(u, "missing-field", "url is empty: set it, or the environment variable it names")
	}
	s.shown = pgShown(u.Str, u.Secret)
	if err := checkPostgresURL(u.Str); err != nil {
		return nil, component.SettingErrorf(u, "invalid-value", "url %s %v", s.shown, err)
	}
	connCfg, err := pgx.ParseConfig(u.Str)
	if err != nil {
		// pgconn's message quotes the URL with its password masked; the
		// URL may still come from a secret variable.
		msg := err.Error()
		if u.Secret {
			msg = "it does not parse"
		}
		return nil, component.SettingErrorf(u, "invalid-value", "url %s: %s", s.shown, msg)
	}
	s.connCfg = connCfg
	if connCfg.Password != "" {
		s.secrets = strings.NewReplacer(connCfg.Password, component.Redacted)
	} else {
		s.secrets = strings.NewReplacer()
	}
	t := cfg.Get("table")
	s.tableName = strSetting(cfg, "table", "")
	var why string
	if s.table, why = pgTable(s.tableName); why != "" {
		return nil, component.SettingErrorf(t, "invalid-identifier", "table %q %s", s.tableName, why)
	}
	if s.batchSize < 1 || s.timeout <= 0 {
		return nil, errors.New("batch_size must be at least 1 and timeout positive")
	}
	if s.retry, err = newRetrier(ctx); err != nil {
		return nil, err
	}
	cols := cfg.Get("columns")
	if cols == nil || len(cols.Keys) == 0 {
		return nil, component.SettingErrorf(cols, "missing-field", "columns is empty: map each column to an expression")
	}
	for _, k := range cols.Keys {
		if why := pgIdentifier(k); why != "" {
			return nil, fmt.Errorf("column %q %s", k, why)
		}
		c := pgColumn{name: k}
		child := cols.Map[k]
		if child.IsExpr {
			if c.prog, err = compiled(child, "column "+k); err != nil {
				return nil, err
			}
		} else if c.nested, err = bodyFields(child); err != nil {
			return nil, err
		}
		s.columns = append(s.columns, c)
	}
	if k := cfg.Get("key"); k != nil {
		for _, v := range k.List {
			if cols.Map[v.Str] == nil || slices.Contains(s.key, v.Str) {
				return nil, fmt.Errorf("key column %q is not among the columns, or listed twice", v.Str)
			}
			s.key = append(s.key, v.Str)
		}
	}
	if len(s.key) == 0 {
		return nil, errors.New("key names no column")
	}
	s.sql = upsertSQL(s.table, s.columns, s.key)
	if ctx.Runtime != nil {
		s.delivered = ctx.Runtime.Delivered
	}
	return s, nil
}

// upsertSQL is the statement one row is written with, every name quoted:
// INSERT … ON CONFLICT (key) DO UPDATE SET each other column, or DO
// NOTHING when every column is in the key.
func upsertSQL(table pgx.Identifier, columns []pgColumn, key []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table.Sanitize())
	b.WriteString(" (")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c.name}.Sanitize())
	}
	b.WriteString(") VALUES (")
	for i := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(") ON CONFLICT (")
	for i, k := range key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{k}.Sanitize())
	}
	b.WriteString(") DO ")
	var set []string
	for _, c := range columns {
		if !slices.Contains(key, c.name) {
			q := pgx.Identifier{c.name}.Sanitize()
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	if len(set) == 0 {
		b.WriteString("NOTHING")
	} else {
		b.WriteString("UPDATE SET ")
		b.WriteString(strings.Join(set, ", "))
	}
	return b.String()
}

// row evaluates the record's columns.
func (s *postgresSink) row(rec *record.Record, machine *vm.VM) ([]any, error) {
	env := rec.Fields(s.decode)
	args := make([]any, len(s.columns))
	for i, c := range s.columns {
		if c.nested != nil {
			b, err := appendObject(nil, c.nested, env, machine, c.name+".")
			if err != nil {
				return nil, err
			}
			args[i] = string(b)
			continue
		}
		v, err := c.prog.Run(machine, env)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
		if args[i], err = pgText(v); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return args, nil
}

// pgText is a value as the text PostgreSQL reads into any column type, or
// nil for NULL. Text leaves the conversion to the server, which names the
// row and the column when a value does not fit (SQLSTATE class 22); pgx
// sends Go strings in text format whatever the column's type.
func pgText(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case time.Duration:
		return strconv.FormatInt(x.Microseconds(), 10) + " microseconds", nil
	case decimal.Decimal, int, int64, int32, uint64, float64, float32, []any, map[string]any, record.RawJSON:
		b, err := record.AppendJSON(nil, x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("a %s cannot be a column value", typeName(v))
}

// Describe returns the row the sink would upsert for rec: column to value,
// as sent. It does no I/O.
func (s *postgresSink) Describe(rec *record.Record) (any, error) {
	args, err := s.row(rec, &s.dvm)
	if err != nil {
		return nil, err
	}
	row := make(map[string]any, len(args))
	for i, c := range s.columns {
		row[c.name] = args[i]
	}
	return map[string]any{"table": s.tableName, "key": s.key, "row": row}, nil
}

// Write evaluates the record's row and writes the batch once it is full.
// An expression that fails is returned; a row that cannot be written is
// reported through Fail.
func (s *postgresSink) Write(ctx context.Context, rec *record.Record) error {
	if s.closed {
		return errors.New("postgres sink written after Close")
	}
	args, err := s.row(rec, &s.vm)
	if err != nil {
		return err
	}
	s.pending = append(s.pending, pgRow{rec: rec, args: args})
	if len(s.pending) >= s.batchSize {
		s.writeBatch(ctx)
	}
	return nil
}

// Flush writes the rows not yet written.
func (s *postgresSink) Flush(ctx context.Context) error {
	if len(s.pending) > 0 {
		s.writeBatch(ctx)
	}
	return nil
}

// writeBatch writes the pending rows with retries and reports those not
// written.
func (s *postgresSink) writeBatch(ctx context.Context) {
	rows := s.pending
	s.pending = nil
	s.stats.begin()
	defer s.stats.end()
	what := fmt.Sprintf("upsert into %s at %s", s.tableName, s.shown)
	err := s.retry.run(ctx, what, func(ctx context.Context, n int) (bool, error) {
		s.stats.add(len(rows), n)
		var err error
		rows, err = s.attempt(ctx, rows)
		if err == nil {
			return false, nil
		}
		return pgRetryable(err), s.explain(err)
	})
	for _, r := range rows {
		if err != nil {
			s.report(r.rec, err)
		} else if s.delivered != nil {
			s.delivered(s.name, r.rec, "upserted into "+s.tableName)
		}
	}
}

// attempt writes rows in one transaction and returns the rows that
// remain to be written or reported: all of them when it fails.
//
// A row the database refuses for good is taken out and the batch written
// again without it, rather than wrapping each row in a savepoint: the
// batch's statements go in one round trip (a pgx.Batch) and the server
// says which one failed, so a clean batch, by far the common case, costs
// one round trip, and each bad row one more. Savepoints would cost a
// round trip per row, since nothing can be pipelined past a failure
// without losing which statement failed, and past 64 subtransactions a
// transaction slows every snapshot on the server (the subxid cache
// overflows).
func (s *postgresSink) attempt(ctx context.Context, rows []pgRow) ([]pgRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.conn == nil || s.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, s.connCfg)
		if err != nil {
			return rows, err
		}
		s.conn = conn
	}
	for len(rows) > 0 {
		bad, err := s.tx(ctx, rows)
		if err == nil {
			return rows, nil
		}
		if bad < 0 {
			if pgRetryable(err) {
				// A failure of the connection may have left it unusable.
				s.dropConn()
			}
			return rows, err
		}
		s.report(rows[bad].rec, &component.DeliveryError{Attempts: 1, Err: s.rejected(err)})
		rows = slices.Delete(rows, bad, bad+1)
	}
	return rows, nil
}

// tx writes rows in one transaction. When a row's statement fails for a
// reason of its own (SQLSTATE class 22 or 23), bad is its index; otherwise
// -1. The transaction is rolled back on any failure.
func (s *postgresSink) tx(ctx context.Context, rows []pgRow) (bad int, err error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return -1, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	for _, r := range rows {
		b.Queue(s.sql, r.args...)
	}
	br := tx.SendBatch(ctx, b)
	bad = -1
	for i := range rows {
		if _, err = br.Exec(); err != nil {
			if rowRejected(err) {
				bad = i
			}
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return bad, err
	}
	return -1, tx.Commit(ctx)
}

func (s *postgresSink) dropConn() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.conn.Close(ctx)
		cancel()
		s.conn = nil
	}
}

// rowRejected reports whether the database refused a row for a reason of
// its own that will not change: a data exception (class 22: a value its
// column cannot hold) or an integrity constraint violation (class 23).
func rowRejected(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// pgRetryable reports whether a failed batch may be written when tried
// again: the connection failed or the server asks for a retry.
func pgRetryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		// No answer from the server: connecting failed, the connection
		// broke or the attempt timed out.
		return true
	}
	switch pe.Code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources: too many connections, disk full
		"57": // operator intervention: shutdown, statement timeout
		return true
	}
	return pe.Code == "55P03" || pe.Code == "55006" // lock not available, object in use
}

// rejected words a row the database refused: its message, detail and
// code.
func (s *postgresSink) rejected(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	msg := fmt.Sprintf("%s rejected the row: %s", s.tableName, pe.Message)
	if pe.Detail != "" {
		msg += " (" + pe.Detail + ")"
	}
	return errors.New(s.secrets.Replace(msg + " [SQLSTATE " + pe.Code + "]"))
}

// explain words a failed batch: what the sink was doing where, and why it
// failed, with what to do when the table is not as the sink needs it.
func (s *postgresSink) explain(err error) error {
	where := fmt.Sprintf("upsert into %s at %s", s.tableName, s.shown)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		cols := quotedList(s.key)
		switch pe.Code {
		case "42P01":
			return fmt.Errorf("%s: table %s does not exist: create it, with a unique index on (%s); the postgres sink does not create tables [SQLSTATE 42P01]", where, s.tableName, cols)
		case "42P10":
			return fmt.Errorf("%s: table %s has no unique index or primary key on exactly (%s), which the upsert needs: create one, e.g. CREATE UNIQUE INDEX ON %s (%s) [SQLSTATE 42P10]",
				where, s.tableName, cols, s.table.Sanitize(), cols)
		case "42703":
			return fmt.Errorf("%s: %s: the columns setting names a column table %s does not have [SQLSTATE 42703]", where, s.secrets.Replace(pe.Message), s.tableName)
		}
		return fmt.Errorf("%s: %s [SQLSTATE %s]", where, s.secrets.Replace(pe.Message), pe.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %s", where, s.timeout)
	}
	return fmt.Errorf("%s: %s", where, s.secrets.Replace(err.Error()))
}

func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func (s *postgresSink) report(rec *record.Record, err error) {
	if s.fail != nil {
		s.fail(rec, err)
		return
	}
	s.failed = append(s.failed, err)
}

// Close writes what is left when committing; without commit the rows not
// yet written are reported as not delivered. Batches already written
// stay: each was its own transaction.
func (s *postgresSink) Close(ctx context.Context, commit bool) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if commit {
		s.Flush(ctx)
	}
	for _, r := range s.pending {
		s.report(r.rec, fmt.Errorf("%w: not written to %s", component.ErrNotDelivered, s.tableName))
	}
	s.pending = nil
	s.dropConn()
	if len(s.failed) > 0 {
		return fmt.Errorf("%d row(s) failed, the first: %w", len(s.failed), s.failed[0])
	}
	return nil
}

// Delivery reports the sink's row attempts, retries and busy time.
func (s *postgresSink) Delivery() component.Delivery { return s.stats.snapshot() }

// RetryPolicy is the sink's retry settings, for the retries serve keeps.
func (s *postgresSink) RetryPolicy() component.RetryPolicy { return s.retry.policy }
