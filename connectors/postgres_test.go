package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/internal/pgtest"
	"github.com/pipectl/pipectl/pipelines/component"
)

// pgSchema gives the test a schema of its own holding the tables ddl
// creates, and returns the URL reaching it.
func pgSchema(t *testing.T, ddl string) string {
	t.Helper()
	url := pgtest.Schema(t, "pipectl_pgsink_", nil)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, ddl); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return url
}

// pgRows returns a query's rows; every column must be text (cast it).
func pgRows(t *testing.T, url, query string) [][]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]*string, len(rows.FieldDescriptions()))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const stagingDDL = `CREATE TABLE orders (
	order_id text PRIMARY KEY,
	email text NOT NULL,
	total numeric(20,2),
	status text,
	lines int8,
	meta jsonb
)`

// stagingPipeline upserts the records of $IN into orders, its failures
// going to $DEAD.
const stagingPipeline = `pipeline: t
sources:
  in:
    file: {path: "${IN}"}
sinks:
  staging:
    from: in
    postgres:
      url: "${PG}"
      table: orders
      key: [order_id]
      batch_size: 2
      backoff: 1ms
      columns:
        order_id: string(id)
        email: email
        total: total
        status: status
        lines: lines
        meta:
          shop: shop
          tags: tags
  dead:
    from: staging.error
    file: {path: "${DEAD}"}
`

// A run upserts each record; a second run with changed records updates the
// rows in place rather than adding any, and a key twice in one batch
// leaves the later record.
func TestPostgresSinkUpsertsByKey(t *testing.T) {
	url := pgSchema(t, stagingDDL)
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead.ndjson")
	in := write(t, filepath.Join(dir, "in.ndjson"), `{"id":820982911946154508,"email":"a@x.com","total":12.50,"status":"paid","lines":2,"shop":"acme","tags":["vip"]}
{"id":2,"email":"b@x.com","total":3,"status":"pending","lines":1,"shop":"bolt","tags":[]}
{"id":3,"email":"c@x.com","total":"99999999999999999.99","status":"paid","lines":5,"shop":"acme","tags":null}
`)
	res := runPipeline(t, stagingPipeline, map[string]string{"IN": in, "PG": url, "DEAD": dead})
	if st := nodeStats(res, "staging"); st.In != 3 || st.Out != 3 || st.Errored != 0 {
		t.Fatalf("first run: %+v", st)
	}
	want := [][]string{
		{"2", "b@x.com", "3.00", "pending", "1", `{"shop": "bolt", "tags": []}`},
		{"3", "c@x.com", "99999999999999999.99", "paid", "5", `{"shop": "acme", "tags": null}`},
		{"820982911946154508", "a@x.com", "12.50", "paid", "2", `{"shop": "acme", "tags": ["vip"]}`},
	}
	const q = `SELECT order_id, email, total::text, status, lines::text, meta::text FROM orders ORDER BY order_id`
	if diff := cmp.Diff(want, pgRows(t, url, q)); diff != "" {
		t.Errorf("after the first run (-want +got):\n%s", diff)
	}

	// Order 2 is paid, then refunded, in one batch; order 4 is new.
	in = write(t, filepath.Join(dir, "in.ndjson"), `{"id":2,"email":"b@x.com","total":3,"status":"paid","lines":1,"shop":"bolt","tags":[]}
{"id":2,"email":"b@x.com","total":3,"status":"refunded","lines":1,"shop":"bolt","tags":[]}
{"id":820982911946154508,"email":"a@x.com","total":12.50,"status":"paid","lines":2,"shop":"acme","tags":["vip"]}
{"id":4,"email":"d@x.com","total":1,"status":"paid","lines":1,"shop":"acme","tags":[]}
`)
	res = runPipeline(t, stagingPipeline, map[string]string{"IN": in, "PG": url, "DEAD": dead})
	if st := nodeStats(res, "staging"); st.Out != 4 || st.Errored != 0 {
		t.Fatalf("second run: %+v", st)
	}
	want[0][3] = "refunded"
	want = append(want[:2], []string{"4", "d@x.com", "1.00", "paid", "1", `{"shop": "acme", "tags": []}`}, want[2])
	if diff := cmp.Diff(want, pgRows(t, url, q)); diff != "" {
		t.Errorf("after the second run (-want +got):\n%s", diff)
	}
}

// A row the database refuses (a NOT NULL column left null, a value its
// column cannot hold) goes to the error output with the database's
// reason; the rest of its batch lands.
func TestPostgresSinkBadRowGoesToTheErrorOutput(t *testing.T) {
	url := pgSchema(t, stagingDDL)
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead.ndjson")
	in := write(t, filepath.Join(dir, "in.ndjson"), `{"id":1,"email":"a@x.com","total":1,"lines":1}
{"id":2,"email":null,"total":1,"lines":1}
{"id":3,"email":"c@x.com","total":1,"lines":1}
{"id":4,"email":"d@x.com","total":1,"lines":"four"}
{"id":5,"email":"e@x.com","total":1,"lines":1}
`)
	src := strings.Replace(stagingPipeline, "batch_size: 2", "batch_size: 10", 1)
	res := runPipeline(t, src, map[string]string{"IN": in, "PG": url, "DEAD": dead})
	if st := nodeStats(res, "staging"); st.Out != 3 || st.Errored != 2 {
		t.Errorf("stats: %+v", st)
	}
	if diff := cmp.Diff([][]string{{"1"}, {"3"}, {"5"}}, pgRows(t, url, `SELECT order_id FROM orders ORDER BY order_id`)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, dead)), "\n") {
		var er struct {
			Node, Error string
			Record      struct{ ID int }
		}
		if err := json.Unmarshal([]byte(line), &er); err != nil || er.Node != "staging" {
			t.Fatalf("error record %s: %v", line, err)
		}
		got[string(rune('0'+er.Record.ID))] = er.Error
	}
	if e := got["2"]; !strings.Contains(e, `orders rejected the row: null value in column "email"`) || !strings.Contains(e, "[SQLSTATE 23502]") {
		t.Errorf("record 2: %q", e)
	}
	if e := got["4"]; !strings.Contains(e, `orders rejected the row: invalid input syntax for type bigint: "four"`) || !strings.Contains(e, "[SQLSTATE 22P02]") {
		t.Errorf("record 4: %q", e)
	}
	if len(got) != 2 {
		t.Errorf("error records: %v", got)
	}
}

func pgSink(t *testing.T, settings string, env map[string]string, rt *component.Runtime, c *errCollector) component.Sink {
	t.Helper()
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    postgres: "+settings+"\n", env)
	return newSink(t, p, "out", rt, c.add)
}

// A server that is not there fails each row with a message naming it and
// the cause, never the password; retried by a batch run, reported as
// retryable under serve.
func TestPostgresSinkServerDownIsRetryable(t *testing.T) {
	addr := closedPort(t)
	settings := `{url: "postgres://etl:${PG_PASSWORD}@` + addr + `/test?sslmode=disable", table: orders, key: [id], columns: {id: id}, max_attempts: 2, backoff: 1ms}`
	env := map[string]string{"PG_PASSWORD": "hunter2-secret"}
	c := &errCollector{}
	writeAll(t, pgSink(t, settings, env, nil, c), `{"id":1}`, `{"id":2}`)
	errs := c.list()
	if len(errs) != 2 {
		t.Fatalf("failures: %v", errs)
	}
	for _, e := range errs {
		msg := e.Error()
		if !strings.Contains(msg, "upsert into orders at ") || !strings.Contains(msg, "connection refused") ||
			!strings.Contains(msg, "(gave up after 2 attempts)") || strings.Contains(msg, "hunter2") {
			t.Errorf("failure: %s", msg)
		}
	}

	c = &errCollector{}
	writeAll(t, pgSink(t, settings, env, &component.Runtime{RetryLater: true}, c), `{"id":1}`)
	var de *component.DeliveryError
	if errs := c.list(); len(errs) != 1 || !errors.As(errs[0], &de) || !de.Retryable || de.Attempts != 1 {
		t.Errorf("under serve: %v", errs)
	}
}

// A table that is not there, or has no unique index on the key, fails
// the rows with a message saying what to create.
func TestPostgresSinkNamesWhatTheTableLacks(t *testing.T) {
	url := pgSchema(t, `CREATE TABLE loose (id text, status text)`)
	for _, tc := range []struct{ table, want string }{
		{"missing", `table missing does not exist: create it, with a unique index on ("id"); the postgres sink does not create tables`},
		{"loose", `table loose has no unique index or primary key on exactly ("id"), which the upsert needs: create one, e.g. CREATE UNIQUE INDEX ON "loose" ("id")`},
	} {
		c := &errCollector{}
		writeAll(t, pgSink(t, `{url: "${PG}", table: `+tc.table+`, key: [id], columns: {id: id, status: status}}`, map[string]string{"PG": url}, nil, c), `{"id":"1","status":"x"}`)
		if errs := c.list(); len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: %v", tc.table, errs)
		}
	}
}

// Dry runs build the sink and describe rows without connecting.
func TestPostgresSinkDescribeTouchesNothing(t *testing.T) {
	addr := closedPort(t)
	p := compile(t, "pipeline: t\nsources:\n  in:\n    file: {path: x}\nsinks:\n  out:\n    from: in\n    postgres: {url: \"postgres://etl@"+addr+"/x\", table: s.orders, key: [id], columns: {id: string(id), total: total, meta: {a: a}}}\n", nil)
	s := newSink(t, p, "out", &component.Runtime{DryRun: true}, nil)
	d, err := s.(component.Describer).Describe(rec(`{"id":820982911946154508,"total":"12.50","a":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"table": "s.orders", "key": []string{"id"}, "row": map[string]any{"id": "820982911946154508", "total": "12.50", "meta": `{"a":[1]}`}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("description (-want +got):\n%s", diff)
	}
}
