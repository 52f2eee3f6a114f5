package transforms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var dedupeSpec = &component.Spec{
	Kind:    "dedupe",
	Section: component.StepSection,
	Summary: "Drops records whose key was already seen, such as a webhook delivered twice.",
	Description: "Keeps the first record for each key and drops the later ones (counted as dropped in the run " +
		"summary). Keys are compared by their JSON value, so the number `1` and the text `\"1\"` are different " +
		"keys, while decimals that are equal are one key whatever their trailing zeros (`1.50` and `1.5`). A key that is null (a missing field) or fails to evaluate sends its record to the `error` output " +
		"rather than deduplicating every keyless record into one.\n\n" +
		"Memory is bounded: at most `max_keys` keys are remembered, the oldest forgotten first, and a key is " +
		"forgotten `ttl` after it was first seen (a duplicate does not extend it), by the run's clock. A " +
		"forgotten key's next record passes again. `ttl: 0` remembers keys until `max_keys` pushes them out.\n\n" +
		"The engine runs the step on one goroutine, in record order, so which duplicate is kept does not depend " +
		"on the number of workers.\n\n" +
		"By default keys are held in the process, for the run. With `persist: true` they are kept in the state " +
		"store (`--state`, the embedded SQLite by default, or PostgreSQL shared by several processes), so a " +
		"webhook delivered again after a restart, or to another process, is still dropped. Keys are grouped by " +
		"`scope`, the pipeline and step name unless set: pipelines that should recognise each other's records " +
		"share a scope. `ttl` bounds the store's keys the same way (a key expires by the `ttl` of the step that " +
		"claimed it), and `max_keys` roughly: each process deletes a scope's oldest keys beyond `max_keys` once it " +
		"has claimed `max_keys`/16 more (at least 64) since it last did, so steps sharing a scope should share " +
		"`max_keys` too. Each batch of records " +
		"is checked and claimed in one transaction, and of two processes seeing one key at once exactly one " +
		"keeps its record.\n\n" +
		"A run's claims count for other runs at once, but they are kept only when the run succeeds (every sink " +
		"closed and no record failed without an error output to take it). A run that fails drops its claims, so " +
		"its records pass again when delivered again (downstream may then see some twice: give HTTP sinks an " +
		"`idempotency_key`). A run that dies holds its claims until it has not claimed for an hour. Two cases still " +
		"drop a copy that was not delivered: one arriving while another run holds its key unsettled, if that run " +
		"then fails, and one arriving within the hour after a run died. A record that passed and then failed into " +
		"an error output that is read counts as delivered. A dry run reads the store's keys but claims none.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "key", Doc: "Dedupe settings.",
		Fields: []*component.Field{
			{Name: "key", Kind: component.ExprField, Required: true, Doc: "Expression giving the identity of a record.",
				Examples: []any{"string(id)", `string(id) + ":" + updated_at`}},
			{Name: "max_keys", Kind: component.IntField, Default: 1_000_000, Doc: "How many keys to remember, at least 1; the oldest are forgotten first."},
			{Name: "ttl", Kind: component.DurationField, Default: 24 * time.Hour, Doc: "How long a key is remembered after it is first seen; 0 for no limit."},
			{Name: "persist", Kind: component.BoolField, Default: false, Doc: "Keep keys in the state store, across runs and processes, rather than in this process for the run."},
			{Name: "scope", Kind: component.StringField, Doc: "With persist: the name the keys are kept under; default PIPELINE/STEP. Steps sharing a scope drop each other's duplicates."},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		if v := cfg.Get("max_keys"); v != nil && v.Int < 1 {
			report.Errorf(v, "invalid-value", "dedupe max_keys must be at least 1, got %d", v.Int)
		}
		if v := cfg.Get("ttl"); v != nil && v.Dur < 0 {
			report.Errorf(v, "invalid-value", "dedupe ttl must not be negative, got %s", v.Dur)
		}
		if v := cfg.Get("scope"); v != nil && v.Set && !persists(cfg) {
			report.Errorf(v, "invalid-value", "dedupe scope applies only to keys kept in the state store: set persist: true, or remove scope")
		}
		if v := cfg.Get("scope"); v != nil && v.Set && strings.TrimSpace(v.Str) == "" {
			report.Errorf(v, "invalid-value", "dedupe scope must not be empty")
		}
	},
	UsesState:   persists,
	Stateful:    true,
	PassThrough: true,
	NewStep:     newDedupe,
	Examples: []component.Example{{
		Title: "Ignore repeated webhook deliveries",
		YAML: `steps:
  once:
    from: orders
    dedupe: {key: string(id)}`,
	}, {
		Title: "Remember deliveries across restarts, for a week",
		YAML: `steps:
  once:
    from: orders
    dedupe: {key: string(id), persist: true, ttl: 168h}`,
	}},
}

// persists reports whether a dedupe step keeps its keys in the state store.
func persists(cfg *component.Value) bool {
	v := cfg.Get("persist")
	return v != nil && v.Bool
}

type dedupeStep struct {
	name    string
	key     *exprs.Program
	maxKeys int
	ttl     time.Duration
	clock   component.Clock
	decode  *record.Projection
	// keys is the state store's key log when the step persists its keys,
	// under scope, claimed for run; nil when it keeps them in the process.
	keys  component.KeyLog
	scope string
	run   string
}

func newDedupe(ctx component.BuildContext) (component.Step, error) {
	p, err := program(ctx.Config.Get("key"), "key")
	if err != nil {
		return nil, err
	}
	s := &dedupeStep{name: ctx.Name, key: p, decode: ctx.Decode, clock: component.SystemClock{}, maxKeys: 1_000_000}
	if v := ctx.Config.Get("max_keys"); v != nil {
		s.maxKeys = int(v.Int)
	}
	if s.maxKeys < 1 {
		return nil, fmt.Errorf("max_keys must be at least 1, got %d", s.maxKeys)
	}
	if v := ctx.Config.Get("ttl"); v != nil {
		s.ttl = v.Dur
	}
	if ctx.Runtime != nil && ctx.Runtime.Clock != nil {
		s.clock = ctx.Runtime.Clock
	}
	if persists(ctx.Config) {
		if ctx.Runtime == nil || ctx.Runtime.Keys == nil {
			return nil, errors.New("persist: true needs a state store, and the run has none (pipectl run --state URL)")
		}
		s.keys = ctx.Runtime.Keys
		if ctx.Runtime.DryRun {
			s.keys = newDryRunKeys(s.keys)
		}
		s.scope = ctx.Pipeline + "/" + ctx.Name
		if v := ctx.Config.Get("scope"); v != nil && v.Set {
			s.scope = v.Str
		}
		s.run = rand.Text()
	}
	return s, nil
}

// EndRun settles the run's key claims: kept when it succeeded, dropped
// when it failed, so the failed run's records pass again.
func (s *dedupeStep) EndRun(ctx context.Context, ok bool) error {
	if s.keys == nil {
		return nil
	}
	return s.keys.SettleKeys(ctx, s.run, ok)
}

func (s *dedupeStep) NewWorker() component.StepWorker {
	if s.keys != nil {
		return &storedDedupeWorker{step: s}
	}
	return &dedupeWorker{step: s, seen: map[string]struct{}{}}
}

// dedupeWorker remembers keys in a set and, in the order they were first
// seen, in a FIFO queue: eviction by max_keys and expiry by ttl both take
// from the queue's front, so each costs O(1) per key.
type dedupeWorker struct {
	step  *dedupeStep
	vm    vm.VM
	seen  map[string]struct{}
	queue []seenKey // queue[head:] are the remembered keys, oldest first
	head  int
	kbuf  []byte
}

type seenKey struct {
	key string
	at  time.Time
}

func (w *dedupeWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	if err := w.keyOf(rec); err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
		return
	}
	var now time.Time
	if w.step.ttl > 0 {
		now = w.step.clock.Now()
		w.expire(now)
	}
	if _, dup := w.seen[string(w.kbuf)]; dup {
		return // a duplicate: dropped, and counted as such by the engine
	}
	if len(w.seen) >= w.step.maxKeys {
		w.pop()
	}
	k := string(w.kbuf)
	w.seen[k] = struct{}{}
	w.queue = append(w.queue, seenKey{key: k, at: now})
	emit(component.DefaultOutput, rec)
}

// keyOf evaluates the key into kbuf as canonical JSON text.
func (w *dedupeWorker) keyOf(rec *record.Record) error {
	var err error
	w.kbuf, err = appendKey(w.kbuf[:0], w.step.key, &w.vm, rec.Fields(w.step.decode))
	return err
}

// expire forgets the keys first seen ttl or longer before now.
func (w *dedupeWorker) expire(now time.Time) {
	for w.head < len(w.queue) && now.Sub(w.queue[w.head].at) >= w.step.ttl {
		w.pop()
	}
}

// pop forgets the oldest key. The queue's dead prefix is dropped once it is
// half the queue, so memory stays proportional to the keys remembered.
func (w *dedupeWorker) pop() {
	delete(w.seen, w.queue[w.head].key)
	w.queue[w.head] = seenKey{}
	w.head++
	if w.head >= 1024 && w.head*2 >= len(w.queue) {
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue = w.queue[:n]
		w.head = 0
	}
}
