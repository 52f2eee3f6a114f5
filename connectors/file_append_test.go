package connectors_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// appendRuntime is the runtime `pipectl serve` gives its runs.
func appendRuntime() *component.Runtime {
	return &component.Runtime{Clock: component.SystemClock{}, Append: true}
}

// runAppending runs the sink pipeline of settings on in, in append mode.
func runAppending(t *testing.T, settings, in, out string) (*engine.Result, error) {
	t.Helper()
	p := compile(t, sinkPipeline(settings), map[string]string{"IN": in, "OUT": out})
	return engine.Run(context.Background(), p, engine.Options{Runtime: appendRuntime()})
}

// Three runs in append mode leave the records of all three, in order, in a
// file that reads back as one: a CSV header once, a gzip member per run.
func TestFileSinkAppendsAcrossRuns(t *testing.T) {
	batches := []string{
		`{"id":1,"sku":"A"}` + "\n" + `{"id":2,"sku":"B,2"}` + "\n",
		`{"id":3,"sku":"C"}` + "\n",
		`{"id":4,"sku":"D"}` + "\n" + `{"id":5,"sku":"E"}` + "\n",
	}
	all := strings.Split(strings.TrimSpace(strings.Join(batches, "")), "\n")
	for _, tc := range []struct {
		name, settings, read, want string
	}{
		{"ndjson", `format: ndjson`, `format: ndjson`, strings.Join(batches, "")},
		{"ndjson+gzip", `format: ndjson, gzip: true`, `format: ndjson`, strings.Join(batches, "")},
		{"csv", `format: csv`, `format: csv, columns: {id: int}`, "id,sku\n1,A\n2,\"B,2\"\n3,C\n4,D\n5,E\n"},
		{"csv with columns", `format: csv, columns: [id, sku], delimiter: ";"`, `format: csv, delimiter: ";", columns: {id: int}`, "id;sku\n1;A\n2;B,2\n3;C\n4;D\n5;E\n"},
		{"csv+gzip", `format: csv, gzip: true`, `format: csv, columns: {id: int}`, "id,sku\n1,A\n2,\"B,2\"\n3,C\n4,D\n5,E\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "sub", "out")
			if strings.Contains(tc.settings, "gzip") {
				out += ".gz"
			}
			for i, b := range batches {
				in := write(t, filepath.Join(dir, fmt.Sprintf("in%d.ndjson", i)), b)
				res, err := runAppending(t, tc.settings, in, out)
				if err != nil || !res.Committed || len(res.Unhandled) > 0 {
					t.Fatalf("run %d: %v, committed %v, unhandled %d", i+1, err, res != nil && res.Committed, len(res.Unhandled))
				}
			}
			if got := readFile(t, out); got != tc.want {
				t.Errorf("file = %q, want %q", got, tc.want)
			}
			recs, errs, err := readFiles(t, out, tc.read)
			if err != nil || len(errs) > 0 || len(recs) != len(all) {
				t.Fatalf("read back: %v %v %v", recs, errs, err)
			}
			for i, r := range recs {
				if r != all[i] {
					t.Errorf("record %d = %s, want %s", i+1, r, all[i])
				}
			}
			if got := dirEntries(t, filepath.Dir(out)); len(got) != 2 || got[0] != "."+filepath.Base(out)+".committed" {
				t.Errorf("folder holds %v, want the file and its committed size", got)
			}
		})
	}
}

// appendSink builds an appending sink of settings writing to out and starts
// it.
func appendSink(t *testing.T, ctx context.Context, settings, out string) (component.Sink, error) {
	t.Helper()
	p := compile(t, sinkPipeline(settings), map[string]string{"IN": "x", "OUT": out})
	s := newSink(t, p, "out", appendRuntime(), nil)
	return s, s.(component.Starter).Start(ctx)
}

func writeN(t *testing.T, s component.Sink, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Write(context.Background(), record.New(fmt.Appendf(nil, `{"n":%d}`, i), nil)); err != nil {
			t.Fatal(err)
		}
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// A run that does not commit takes back what it added, even what it had
// flushed to disk, and what a killed run left is taken back by the next.
func TestFileSinkAppendAbortTruncates(t *testing.T) {
	for _, settings := range []string{`format: ndjson`, `format: csv`, `format: ndjson, gzip: true`} {
		t.Run(settings, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			if strings.Contains(settings, "gzip") {
				out += ".gz"
			}
			s, err := appendSink(t, context.Background(), settings, out)
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, s, 0, 2)
			if err := s.Close(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			committed, _ := os.ReadFile(out)

			s, err = appendSink(t, context.Background(), settings, out)
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, s, 2, 1000)
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if size(t, out) <= int64(len(committed)) {
				t.Fatalf("Flush wrote nothing to %s", out)
			}
			if err := s.Close(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(out); string(got) != string(committed) {
				t.Errorf("after an aborted run the file is %d bytes, want the %d committed before", len(got), len(committed))
			}

			// A run killed after flushing leaves its bytes at the end of
			// the file, which the next run takes back before adding.
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("half a record from a killed r")
			f.Close()
			s, err = appendSink(t, context.Background(), settings, out)
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, s, 2, 1)
			if err := s.Close(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			want := `{"n":0}` + "\n" + `{"n":1}` + "\n" + `{"n":2}` + "\n"
			if strings.HasPrefix(settings, "format: csv") {
				want = "n\n0\n1\n2\n"
			}
			if got := readFile(t, out); got != want {
				t.Errorf("file = %q, want %q", got, want)
			}
		})
	}
}

// A run that adds no records leaves a file with content as it was: no
// empty gzip member, no second header.
func TestFileSinkAppendNothingAddsNothing(t *testing.T) {
	for _, settings := range []string{`format: ndjson, gzip: true`, `format: csv, columns: [n]`} {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		s, err := appendSink(t, context.Background(), settings, out)
		if err != nil {
			t.Fatal(err)
		}
		writeN(t, s, 0, 1)
		if err := s.Close(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(out)
		s, err = appendSink(t, context.Background(), settings, out)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(out); string(after) != string(before) {
			t.Errorf("%s: a run without records changed the file from %q to %q", settings, before, after)
		}
	}
}

// Rows added to a CSV file follow its header; `columns` that differ from
// it are refused at the start rather than misread later.
func TestFileSinkAppendCSVHeader(t *testing.T) {
	dir := t.TempDir()
	out := write(t, filepath.Join(dir, "out.csv"), "sku,qty\nA,1\n")
	s, err := appendSink(t, context.Background(), `format: csv`, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), record.New([]byte(`{"qty":2,"sku":"B"}`), nil)); err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), record.New([]byte(`{"sku":"C","colour":"red"}`), nil))
	if err == nil || !strings.Contains(err.Error(), `"colour"`) || !strings.Contains(err.Error(), "header of the file") {
		t.Errorf("a field the header lacks: %v", err)
	}
	if err := s.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != "sku,qty\nA,1\nB,2\n" {
		t.Errorf("file = %q", got)
	}

	_, err = appendSink(t, context.Background(), `format: csv, columns: [sku, qty, price]`, out)
	if err == nil || !strings.Contains(err.Error(), "header has the columns sku, qty") || !strings.Contains(err.Error(), "sku, qty, price") {
		t.Errorf("columns unlike the file's header: %v", err)
	}
	if got := readFile(t, out); got != "sku,qty\nA,1\nB,2\n" {
		t.Errorf("a refused run changed the file: %q", got)
	}
}

// A JSON array or XML document cannot take records after its end: serve
// refuses such sinks, naming the sink and the format to use.
func TestFileSinkAppendRefusesDocuments(t *testing.T) {
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.ndjson"), `{"a":1}`+"\n")
	for _, format := range []string{"json", "xml"} {
		out := write(t, filepath.Join(dir, "out."+format), "yesterday's\n")
		_, err := runAppending(t, "format: "+format, in, out)
		if err == nil {
			t.Fatalf("%s: an appending run started", format)
		}
		for _, want := range []string{`sink "out"`, "format " + format + " cannot be appended to", "pipectl serve", "format ndjson"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", format, err, want)
			}
		}
		if got := readFile(t, out); got != "yesterday's\n" {
			t.Errorf("%s: the file changed: %q", format, got)
		}
	}
}

// Two runs do not append to one file at once: the second waits for the
// first's lock, and gives up with a clear error when its context ends.
func TestFileSinkAppendLocks(t *testing.T) {
	out := tempPath(t, "out.ndjson")
	first, err := appendSink(t, context.Background(), `format: ndjson`, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	second, err := appendSink(t, ctx, `format: ndjson`, out)
	if err == nil || !strings.Contains(err.Error(), "another run is appending to") {
		t.Errorf("second appender while the first runs: %v", err)
	}
	second.Close(context.Background(), false)
	writeN(t, first, 0, 1)
	if err := first.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	third, err := appendSink(t, context.Background(), `format: ndjson`, out)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	writeN(t, third, 1, 1)
	if err := third.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != `{"n":0}`+"\n"+`{"n":1}`+"\n" {
		t.Errorf("file = %q", got)
	}
}

// A run that replaces the file (pipectl run) forgets the committed size
// appending runs kept, so the next appending run does not cut the new file.
func TestFileSinkReplaceForgetsAppendedSize(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	s, err := appendSink(t, context.Background(), `format: ndjson`, out)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, s, 0, 1)
	if err := s.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	in := write(t, filepath.Join(dir, "in.ndjson"), strings.Repeat(`{"n":"replaced"}`+"\n", 10))
	runPipeline(t, sinkPipeline(`format: ndjson`), map[string]string{"IN": in, "OUT": out})
	s, err = appendSink(t, context.Background(), `format: ndjson`, out)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, s, 1, 1)
	if err := s.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != strings.Repeat(`{"n":"replaced"}`+"\n", 10)+`{"n":1}`+"\n" {
		t.Errorf("file = %q", got)
	}
}
