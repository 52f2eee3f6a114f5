package transforms

import (
	"container/list"
	"context"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var groupSpec = &component.Spec{
	Kind:    "group",
	Section: component.StepSection,
	Summary: "Collects records that share a key into one record: the inverse of split.",
	Description: "Records with the same key are gathered into `{key, records}`: the key as the expression " +
		"gave it for the group's first record and the records, as received, in arrival order. Keys are compared " +
		"by their JSON value, so the number `1` and the text `\"1\"` are different groups, while decimals that " +
		"are equal are one group whatever their trailing zeros (`1.50` and `1.5`). A key that is null (a missing field) or " +
		"fails to evaluate sends its record to the `error` output; write `key ?? \"none\"` to group such " +
		"records on purpose.\n\n" +
		"A group is emitted as soon as it holds `max_records`, and the rest when the input ends, in the " +
		"order their first records arrived, so the same input always gives the same output. `max_wait` is " +
		"checked against the run's clock each time a record arrives: groups whose first record is at least " +
		"that old are emitted first, oldest first. Nothing is emitted between arrivals, so in a batch run " +
		"`max_wait` only matters for long inputs; the input's end emits everything.\n\n" +
		"Groups are held in memory and the engine runs the step on one goroutine, in record order. In the run " +
		"summary, a record held in a group counts as dropped when it arrives, unless its arrival emits a group; " +
		"the groups emitted at the end of the input count only as emitted.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "key", Doc: "Grouping settings.",
		Fields: []*component.Field{
			{Name: "key", Kind: component.ExprField, Required: true, Doc: "Expression giving each record's group key.",
				Examples: []any{"parent.id"}},
			{Name: "max_records", Kind: component.IntField, Default: 0, Doc: "Emit a group once it holds this many records; 0 for no limit."},
			{Name: "max_wait", Kind: component.DurationField, Default: time.Duration(0),
				Doc: "Emit a group when a record arrives this long after the group's first record; 0 waits for the end of the input."},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		if v := cfg.Get("max_records"); v != nil && v.Int < 0 {
			report.Errorf(v, "invalid-value", "group max_records must be 0 (no limit) or more, got %d", v.Int)
		}
		if v := cfg.Get("max_wait"); v != nil && v.Dur < 0 {
			report.Errorf(v, "invalid-value", "group max_wait must not be negative, got %s", v.Dur)
		}
	},
	Stateful: true,
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		key := component.AnyType
		if k := tc.Config.Get("key"); k != nil && k.Expr != nil {
			key = k.Expr.ResultType()
		}
		return map[string]*component.Type{component.DefaultOutput: component.ObjectOf(
			component.Property{Name: "key", Type: key},
			component.Property{Name: "records", Type: component.ArrayOf(tc.Input)},
		)}
	},
	NewStep: newGroup,
	Examples: []component.Example{{
		Title: "Lines back into orders",
		YAML: `steps:
  per_order:
    from: lines
    group: {key: parent.id}`,
	}, {
		Title: "Batches of at most 100 orders per location",
		YAML: `steps:
  batches:
    from: orders
    group: {key: location_id, max_records: 100}`,
	}},
}

type groupStep struct {
	name       string
	key        *exprs.Program
	maxRecords int
	maxWait    time.Duration
	clock      component.Clock
	decode     *record.Projection
}

func newGroup(ctx component.BuildContext) (component.Step, error) {
	p, err := program(ctx.Config.Get("key"), "key")
	if err != nil {
		return nil, err
	}
	s := &groupStep{name: ctx.Name, key: p, decode: ctx.Decode, clock: component.SystemClock{}}
	if v := ctx.Config.Get("max_records"); v != nil {
		s.maxRecords = int(v.Int)
	}
	if v := ctx.Config.Get("max_wait"); v != nil {
		s.maxWait = v.Dur
	}
	if ctx.Runtime != nil && ctx.Runtime.Clock != nil {
		s.clock = ctx.Runtime.Clock
	}
	return s, nil
}

func (s *groupStep) NewWorker() component.StepWorker {
	return &groupWorker{step: s, open: map[string]*list.Element{}}
}

// groupWorker holds the open groups: a map from the key's JSON text to the
// group's place in a list kept in first-arrival order, so emission order is
// deterministic and removing a full group is O(1).
type groupWorker struct {
	step  *groupStep
	vm    vm.VM
	open  map[string]*list.Element
	order list.List // of *group, oldest first
	kbuf  []byte
}

// group is an open group. buf is the output record being built:
// `{"key":K,"records":[r1,r2` — closing it is appending `]}`.
type group struct {
	key    string
	origin *record.Origin // the first record's, for error outputs downstream
	trace  []string
	since  time.Time
	n      int
	buf    []byte
}

func (w *groupWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	var now time.Time
	if w.step.maxWait > 0 {
		now = w.step.clock.Now()
		w.emitExpired(now, emit)
	}
	v, err := evalKey(w.step.key, &w.vm, rec.Fields(w.step.decode))
	if err == nil {
		w.kbuf, err = keyJSON(w.kbuf[:0], w.step.key, v, record.AppendKey)
	}
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
		return
	}
	var g *group
	if el, ok := w.open[string(w.kbuf)]; ok {
		g = el.Value.(*group)
		g.buf = append(g.buf, ',')
	} else {
		k := string(w.kbuf)
		g = &group{key: k, origin: rec.Origin, trace: slices.Clone(rec.Trace), since: now}
		g.buf = make([]byte, 0, len(k)+len(rec.Raw)+32)
		g.buf = append(g.buf, `{"key":`...)
		// The key as the group's first record gave it: 1.50, where the
		// groups compare by 1.5.
		g.buf, _ = record.AppendJSON(g.buf, v)
		g.buf = append(g.buf, `,"records":[`...)
		w.open[k] = w.order.PushBack(g)
	}
	g.buf = append(g.buf, rec.Raw...)
	g.n++
	if w.step.maxRecords > 0 && g.n >= w.step.maxRecords {
		w.close(w.open[g.key], emit)
	}
}

// emitExpired emits the groups whose first record arrived max_wait or more
// before now. Groups are in first-arrival order, so the scan stops at the
// first young one.
func (w *groupWorker) emitExpired(now time.Time, emit component.Emit) {
	for el := w.order.Front(); el != nil; {
		g := el.Value.(*group)
		if now.Sub(g.since) < w.step.maxWait {
			return
		}
		next := el.Next()
		w.close(el, emit)
		el = next
	}
}

// close emits a group and forgets it: a later record with the same key
// starts a new group.
func (w *groupWorker) close(el *list.Element, emit component.Emit) {
	g := w.order.Remove(el).(*group)
	delete(w.open, g.key)
	g.buf = append(g.buf, ']', '}')
	out := record.New(g.buf, g.origin)
	out.Trace = g.trace
	emit(component.DefaultOutput, out)
}

// Flush emits every open group, in the order their first records arrived.
func (w *groupWorker) Flush(ctx context.Context, emit component.Emit) {
	for el := w.order.Front(); el != nil; el = w.order.Front() {
		w.close(el, emit)
	}
}
