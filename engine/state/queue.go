package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/tidwall/gjson"
)

// queueFile is the name of the SQLite serve state, beside the inventory's
// state.db: a file of its own, so the intake's synchronous=FULL commits do
// not slow the inventory's, and either file can be moved or removed alone.
const queueFile = "queue.db"

// openQueue dispatches on the URL as Open does.
func openQueue(ctx context.Context, url string, opts Options) (Queue, error) {
	if opts.Clock == nil {
		opts.Clock = component.SystemClock{}
	}
	switch {
	case url == "":
		return openSQLiteQueue(ctx, filepath.Join(DefaultDir, queueFile), opts)
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("state url %q names no file", url)
		}
		return openSQLiteQueue(ctx, queuePath(path), opts)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgresQueue(ctx, url, opts)
	}
	return nil, fmt.Errorf("state url %q: want sqlite://PATH or postgres://…", redactURL(url))
}

// queuePath is where the serve state of the inventory file path lives:
// queue.db in the same directory, or in path itself when it is one.
func queuePath(path string) string {
	if fi, err := os.Stat(path); (err == nil && fi.IsDir()) || strings.HasSuffix(path, "/") {
		return filepath.Join(path, queueFile)
	}
	return filepath.Join(filepath.Dir(path), queueFile)
}

// dedupePruneEvery is how often event ids older than DedupeHorizon are
// deleted, at the first Enqueue of a process and then on the first after
// this long: an hour's expired entries are one cheap indexed delete.
const dedupePruneEvery = time.Hour

// checkDelivery refuses a delivery the queue could not route.
func checkDelivery(d *Delivery) error {
	switch {
	case d == nil:
		return errors.New("enqueue: no delivery")
	case d.Pipeline == "":
		return errors.New("enqueue: the delivery names no pipeline")
	}
	return nil
}

func checkClaimArgs(what, pipeline string, max int, lease time.Duration) error {
	switch {
	case pipeline == "":
		return fmt.Errorf("claim %s: no pipeline named", what)
	case max < 1:
		return fmt.Errorf("claim %s of %s: at most %d; want at least 1", what, pipeline, max)
	case lease <= 0:
		return fmt.Errorf("claim %s of %s: lease %v; want more than 0", what, pipeline, lease)
	}
	return nil
}

func checkOutcome(retries []*Retry, dead []*DeadLetter) error {
	for i, r := range retries {
		if r == nil || r.Pipeline == "" || r.Sink == "" {
			return fmt.Errorf("retry %d: a retry needs its pipeline and sink", i+1)
		}
	}
	for i, dl := range dead {
		if dl == nil || dl.Pipeline == "" {
			return fmt.Errorf("dead letter %d: a dead letter needs its pipeline", i+1)
		}
		if dl.Status != "" {
			if err := checkDeadStatus(dl.Status); err != nil {
				return fmt.Errorf("dead letter %d: %w", i+1, err)
			}
		}
	}
	return nil
}

func checkDeadStatus(status string) error {
	switch status {
	case DeadOpen, DeadReplayed, DeadResolved:
		return nil
	}
	return fmt.Errorf("dead-letter status %q: want %s, %s or %s", status, DeadOpen, DeadReplayed, DeadResolved)
}

// utc is t as stored: UTC, to the microsecond; zero stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// orNow is t, or now when t is zero.
func orNow(t time.Time, clock component.Clock) time.Time {
	if t.IsZero() {
		return utc(clock.Now())
	}
	return utc(t)
}

// micro is t as SQLite keeps it; the zero time is 0, "none".
func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// pgTime is t as PostgreSQL keeps it; the zero time is NULL, "none".
func pgTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// optInstant scans an optional time: NULL (PostgreSQL) or 0 (SQLite) is
// the zero time.
type optInstant time.Time

func (t *optInstant) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*t = optInstant{}
	case int64:
		if v == 0 {
			*t = optInstant{}
		} else {
			*t = optInstant(time.UnixMicro(v).UTC())
		}
	case time.Time:
		*t = optInstant(v.UTC())
	default:
		return fmt.Errorf("a time cannot be read from %T", v)
	}
	return nil
}

func (t optInstant) Time() time.Time { return time.Time(t) }

// blob is b for a NOT NULL binary column: nil is stored as empty.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// orNil reads an empty binary column back as nil, as it was most likely
// given.
func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeHeader stores a header as a JSON object of string arrays, keys
// sorted. Every delivery's header is written at intake and read at claim,
// so both directions are written out by hand; what they cannot take
// (invalid UTF-8) goes through encoding/json.
func encodeHeader(h http.Header) string {
	if len(h) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 64*len(h))
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendJSONString(b, k); !ok {
			return marshalHeader(h)
		}
		b = append(b, ':', '[')
		for j, v := range h[k] {
			if j > 0 {
				b = append(b, ',')
			}
			if b, ok = appendJSONString(b, v); !ok {
				return marshalHeader(h)
			}
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	return string(b)
}

func marshalHeader(h http.Header) string {
	b, _ := json.Marshal(h) // a map of string slices always encodes
	return string(b)
}

// appendJSONString appends s as a JSON string; false when s is not valid
// UTF-8, which JSON cannot carry as it is.
func appendJSONString(b []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return b, false
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"'), true
}

func decodeHeader(s string) (http.Header, error) {
	if !gjson.Valid(s) {
		return nil, fmt.Errorf("stored header: not JSON")
	}
	obj := gjson.Parse(s)
	if !obj.IsObject() {
		return nil, fmt.Errorf("stored header: not an object")
	}
	var h http.Header
	var err error
	obj.ForEach(func(k, vs gjson.Result) bool {
		if !vs.IsArray() {
			err = fmt.Errorf("stored header %s: not an array", k.String())
			return false
		}
		if h == nil {
			h = http.Header{}
		}
		var list []string
		vs.ForEach(func(_, v gjson.Result) bool {
			list = append(list, v.String())
			return true
		})
		h[k.String()] = list
		return true
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// encodeAttempts stores attempts as a JSON array, their times in UTC to
// the microsecond like every other time the queue keeps.
func encodeAttempts(as []Attempt) string {
	out := make([]Attempt, len(as))
	for i, a := range as {
		a.At = utc(a.At)
		out[i] = a
	}
	b, _ := json.Marshal(out) // times, ints and strings always encode
	return string(b)
}

func decodeAttempts(s string) ([]Attempt, error) {
	var as []Attempt
	if err := json.Unmarshal([]byte(s), &as); err != nil {
		return nil, fmt.Errorf("stored attempts: %w", err)
	}
	if len(as) == 0 {
		return nil, nil
	}
	for i := range as {
		as[i].At = as[i].At.UTC()
	}
	return as, nil
}

// The readers below turn a row into a serve record; both queues select
// these columns in this order (see scan.go).

const deliveryColumns = `id, pipeline, trigger_name, version, event_id, received_at, header, body, attempts`

func scanDelivery(scan scanFunc) (*Delivery, error) {
	d := &Delivery{}
	var received instant
	var header string
	if err := scan(&d.ID, &d.Pipeline, &d.Trigger, &d.Version, &d.EventID, &received, &header, &d.Body, &d.Attempts); err != nil {
		return nil, err
	}
	d.Received, d.Body = received.Time(), orNil(d.Body)
	var err error
	d.Header, err = decodeHeader(header)
	return d, err
}

const retryColumns = `id, pipeline, version, sink, record, origin, header, delivery, attempts, created_at, next_at`

func scanRetry(scan scanFunc) (*Retry, error) {
	r := &Retry{}
	var header, attempts string
	var created, next instant
	if err := scan(&r.ID, &r.Pipeline, &r.Version, &r.Sink, &r.Record, &r.Origin, &header, &r.Delivery, &attempts, &created, &next); err != nil {
		return nil, err
	}
	r.Record, r.Origin, r.Created, r.Next = orNil(r.Record), orNil(r.Origin), created.Time(), next.Time()
	var err error
	if r.Header, err = decodeHeader(header); err != nil {
		return nil, err
	}
	r.Attempts, err = decodeAttempts(attempts)
	return r, err
}

const deadLetterColumns = `id, pipeline, version, trigger_name, node, error, payload, header, edited, record, delivery, attempts, status, reason, created_at, updated_at`

func scanDeadLetter(scan scanFunc) (*DeadLetter, error) {
	dl := &DeadLetter{}
	var header, attempts string
	var created, updated instant
	if err := scan(&dl.ID, &dl.Pipeline, &dl.Version, &dl.Trigger, &dl.Node, &dl.Error, &dl.Payload, &header, &dl.Edited,
		&dl.Record, &dl.Delivery, &attempts, &dl.Status, &dl.Reason, &created, &updated); err != nil {
		return nil, err
	}
	dl.Payload, dl.Record, dl.Created, dl.Updated = orNil(dl.Payload), orNil(dl.Record), created.Time(), updated.Time()
	var err error
	if dl.Header, err = decodeHeader(header); err != nil {
		return nil, err
	}
	dl.Attempts, err = decodeAttempts(attempts)
	return dl, err
}

const runColumns = `id, pipeline, trigger_name, tick, started_at, ended_at, outcome, error, nodes`

func scanRun(scan scanFunc) (*RunRecord, error) {
	r := &RunRecord{}
	var tick, ended optInstant
	var started instant
	if err := scan(&r.ID, &r.Pipeline, &r.Trigger, &tick, &started, &ended, &r.Outcome, &r.Error, &r.Nodes); err != nil {
		return nil, err
	}
	r.Tick, r.Started, r.Ended, r.Nodes = tick.Time(), started.Time(), ended.Time(), orNil(r.Nodes)
	return r, nil
}

const auditColumns = `id, at, actor, action, subject, reason, detail`

func scanAudit(scan scanFunc) (*AuditEntry, error) {
	e := &AuditEntry{}
	var at instant
	if err := scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.Reason, &e.Detail); err != nil {
		return nil, err
	}
	e.At, e.Detail = at.Time(), orNil(e.Detail)
	return e, nil
}

// deadFromRetry completes the dead letter a retry becomes with what the
// retry knows and dl leaves empty, and gives it the retry's attempts
// followed by the last one: the store holds the whole history.
func deadFromRetry(r *Retry, a Attempt, dl DeadLetter) *DeadLetter {
	if dl.Pipeline == "" {
		dl.Pipeline = r.Pipeline
	}
	if dl.Version == "" {
		dl.Version = r.Version
	}
	if dl.Node == "" {
		dl.Node = r.Sink
	}
	if dl.Payload == nil {
		dl.Payload = r.Origin
	}
	if dl.Header == nil {
		dl.Header = r.Header
	}
	if dl.Record == nil {
		dl.Record = r.Record
	}
	if dl.Delivery == 0 {
		dl.Delivery = r.Delivery
	}
	if dl.Error == "" {
		dl.Error = a.Error
	}
	dl.Attempts = append(append([]Attempt(nil), r.Attempts...), a)
	return &dl
}

// deadDefaults fills what a new dead letter leaves empty: open, stamped
// now.
func deadDefaults(dl DeadLetter, clock component.Clock) DeadLetter {
	if dl.Status == "" {
		dl.Status = DeadOpen
	}
	dl.Created = orNow(dl.Created, clock)
	if dl.Updated.IsZero() {
		dl.Updated = dl.Created
	}
	dl.Updated = utc(dl.Updated)
	return dl
}

// retryDefaults fills what a new retry leaves empty: created now, due at
// once.
func retryDefaults(r Retry, clock component.Clock) Retry {
	r.Created = orNow(r.Created, clock)
	if r.Next.IsZero() {
		r.Next = r.Created
	}
	r.Next = utc(r.Next)
	return r
}

// sortByID puts records claimed by one statement in id order: RETURNING
// does not promise any.
func sortByID[T any](xs []T, id func(T) int64) {
	slices.SortFunc(xs, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
}

func scanString(scan scanFunc) (string, error) {
	var s string
	return s, scan(&s)
}

// collectCounts reads rows of (name, count).
func collectCounts(rows resultSet) (map[string]int, error) {
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

func checkAudit(e *AuditEntry) error {
	if e == nil || e.Actor == "" || e.Action == "" {
		return errors.New("audit: an entry needs who did it (actor) and what (action)")
	}
	return nil
}

// limit is the LIMIT clause for n rows, none for n <= 0 (all of them).
func limit(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// dialect is how a database writes what the dead-letter filter needs.
type dialect struct {
	param func(n int) string // the n-th placeholder, from 1
	time  func(time.Time) any
	ids   func(param string) string // the condition that id is in the list param
	list  func([]int64) any
}

var (
	sqliteDialect = dialect{
		param: func(int) string { return "?" },
		time:  func(t time.Time) any { return micro(t) },
		ids:   func(p string) string { return "id IN (SELECT value FROM json_each(" + p + "))" },
		list:  func(ids []int64) any { return idList(ids) },
	}
	pgDialect = dialect{
		param: func(n int) string { return "$" + strconv.Itoa(n) },
		time:  func(t time.Time) any { return t.UTC() },
		ids:   func(p string) string { return "id = ANY(" + p + ")" },
		list:  func(ids []int64) any { return ids },
	}
)

// deadLetterWhere is the condition and arguments that select f.
func deadLetterWhere(f DeadLetterFilter, d dialect) (string, []any) {
	conds := []string{"TRUE"}
	var args []any
	add := func(cond func(p string) string, arg any) {
		args = append(args, arg)
		conds = append(conds, cond(d.param(len(args))))
	}
	eq := func(col string) func(string) string { return func(p string) string { return col + " = " + p } }
	if f.Pipeline != "" {
		add(eq("pipeline"), f.Pipeline)
	}
	if f.Node != "" {
		add(eq("node"), f.Node)
	}
	if f.Status != "" {
		add(eq("status"), f.Status)
	}
	if !f.Since.IsZero() {
		add(func(p string) string { return "created_at >= " + p }, d.time(utc(f.Since)))
	}
	if len(f.IDs) > 0 {
		add(d.ids, d.list(f.IDs))
	}
	return strings.Join(conds, " AND "), args
}
