package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/record"
)

// A live run that reports paths tells, for every input record, where it
// went: through which steps to which sink, or which step dropped it and
// why; a step in the parallel stage (the filter) and one in the ordered
// stage (dedupe) alike, whatever the number of workers. The sink still
// writes exactly what it would without paths.
func TestPathsTellWhereEachRecordWent(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			dir := t.TempDir()
			p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/missing.ndjson"}
steps:
  paid: {from: in, filter: 'status == "paid"'}
  once: {from: paid, dedupe: {key: id}}
  shape: {from: once, map: {id: id}}
sinks:
  out: {from: shape, file: "${DIR}/out.ndjson"}
`)
			var inputs []engine.Input
			for i, body := range []string{`{"id":1,"status":"paid"}`, `{"id":2,"status":"pending"}`, `{"id":1,"status":"paid"}`, `{"id":3,"status":"paid"}`} {
				inputs = append(inputs, engine.Input{Node: "in", Record: record.New([]byte(body), &record.Origin{Source: "in", Seq: int64(i + 1)})})
			}
			got := map[int64]string{}
			res := run(t, p, engine.Options{Workers: workers, Inputs: inputs, Paths: func(pa engine.Path) {
				end := "sink " + pa.Sink + " got " + string(pa.Record.Raw)
				if pa.Sink == "" {
					end = "dropped: " + pa.Dropped
				}
				got[pa.Origin.Seq] += strings.Join(pa.Steps, " > ") + ", " + end
			}})
			if !res.Committed {
				t.Fatal("the run did not commit")
			}
			want := map[int64]string{
				1: `in > paid > once > shape > out, sink out got {"id":1}`,
				2: "in > paid, dropped: filter paid: `status == \"paid\"` is false",
				3: "in > paid > once, dropped: dedupe once: key 1 (`id`) was seen before",
				4: `in > paid > once > shape > out, sink out got {"id":3}`,
			}
			for seq, w := range want {
				if got[seq] != w {
					t.Errorf("input %d: path %q, want %q", seq, got[seq], w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("paths of %d inputs, want %d: %v", len(got), len(want), got)
			}
			out, err := os.ReadFile(filepath.Join(dir, "out.ndjson"))
			if err != nil || string(out) != "{\"id\":1}\n{\"id\":3}\n" {
				t.Errorf("sink wrote %q (%v)", out, err)
			}
		})
	}
}
