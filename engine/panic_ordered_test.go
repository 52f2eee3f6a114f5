package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// panickyBatch decides its records in batches and panics at the one whose
// x equals on, having emitted the records before it.
type panickyBatch struct{ panicky }

func (p panickyBatch) NewWorker() component.StepWorker { return p }

func (p panickyBatch) ProcessBatch(ctx context.Context, recs []*record.Record, emit func(int, string, *record.Record)) {
	for i, rec := range recs {
		p.Process(ctx, rec, func(output string, o *record.Record) { emit(i, output, o) })
	}
}

// panickySink writes NDJSON to a buffer and panics on the record whose x
// equals on.
type panickySink struct {
	panicky
	out *bytes.Buffer
}

func (s panickySink) Write(ctx context.Context, rec *record.Record) error {
	s.Process(ctx, rec, func(string, *record.Record) {})
	s.out.Write(rec.Raw)
	return s.out.WriteByte('\n')
}
func (panickySink) Flush(context.Context) error       { return nil }
func (panickySink) Close(context.Context, bool) error { return nil }

// Steps and sinks of the ordered stage that panic fail the record they met,
// as the stateless steps do, and the stack goes to the runtime's logger,
// not into the error record.
func TestOrderedPanicFailsOnlyItsRecord(t *testing.T) {
	for _, kind := range []string{"panicky_stateful", "panicky_batch"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "in.ndjson"), panicInput)
			p := compilePanicky(t, dir, fmt.Sprintf(`
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  boom:
    from: in
    %s: {on: b}
sinks:
  out: {from: boom, file: "${DIR}/out.ndjson"}
  failed: {from: boom.error, file: "${DIR}/failed.ndjson"}
`, kind), func(reg *component.Registry) {
				reg.Add(&component.Spec{Kind: "panicky_batch", Section: component.StepSection, Summary: "Panics on a value, in batches.",
					Config: panickyConfig(), Stateful: true, NewStep: func(ctx component.BuildContext) (component.Step, error) {
						return panickyBatch{panicky{on: ctx.Config.Get("on").Str}}, nil
					}})
			})
			var log bytes.Buffer
			rt := &component.Runtime{Clock: component.SystemClock{}, Logger: slog.New(slog.NewTextHandler(&log, nil))}
			res := run(t, p, engine.Options{Workers: 2, BatchSize: 2, Runtime: rt})
			checkPanicRun(t, dir, res, "boom")
			if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "engine_test.panicky.Process") {
				t.Errorf("log = %s, want the stack at error level", log.String())
			}
		})
	}
	t.Run("sink", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "in.ndjson"), panicInput)
		var out bytes.Buffer
		p := compilePanicky(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
sinks:
  out: {from: in, panicky_sink: {on: b}}
  failed: {from: out.error, file: "${DIR}/failed.ndjson"}
`, func(reg *component.Registry) {
			reg.Add(&component.Spec{Kind: "panicky_sink", Section: component.SinkSection, Summary: "Panics on a value.",
				Config: panickyConfig(), NewSink: func(ctx component.BuildContext) (component.Sink, error) {
					return panickySink{panicky{on: ctx.Config.Get("on").Str}, &out}, nil
				}})
		})
		res := run(t, p, engine.Options{})
		checkCounts(t, res)
		if got := out.String(); got != "{\"x\":\"a\"}\n{\"x\":\"c\"}\n{\"x\":\"d\"}\n" {
			t.Errorf("sink got %q, want every record but b", got)
		}
		failed := lines(t, filepath.Join(dir, "failed.ndjson"))
		var e struct{ Node, Error string }
		if len(failed) != 1 || json.Unmarshal([]byte(failed[0]), &e) != nil || e.Node != "out" || e.Error != `sink "out" panicked: cannot handle x=b` {
			t.Errorf("failed = %v, want b's error record from sink out", failed)
		}
	})
}
