package connectors_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/transforms"
)

// compileOptions wires every kind, as cmd/pipectl does, with env as the
// environment.
func compileOptions(env map[string]string) pipelines.Options {
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	return pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}},
		Library: exprs.NewLibrary(component.FixedClock(time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC))),
	}
}

// diagnose loads and compiles a pipeline, returning every diagnostic.
func diagnose(t *testing.T, src string, env map[string]string) (*pipelines.Plan, diag.Diagnostics) {
	t.Helper()
	opts := compileOptions(env)
	f, ds := pipelines.LoadBytes("pipeline.yaml", []byte(src), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	return p, append(ds, cds...)
}

// compile loads and compiles a pipeline that must have no errors.
func compile(t *testing.T, src string, env map[string]string) *pipelines.Plan {
	t.Helper()
	p, ds := diagnose(t, src, env)
	if ds.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", ds)
	}
	return p
}

func node(t *testing.T, p *pipelines.Plan, name string) *pipelines.Node {
	t.Helper()
	n, ok := p.Node(name)
	if !ok {
		t.Fatalf("no node %q", name)
	}
	return n
}

// newSource builds a plan's source the way the engine does.
func newSource(t *testing.T, p *pipelines.Plan, name string) component.Source {
	t.Helper()
	n := node(t, p, name)
	s, err := n.Spec.NewSource(component.BuildContext{Name: name, Config: n.Config, Input: n.Input, Runtime: &component.Runtime{Clock: component.SystemClock{}}})
	if err != nil {
		t.Fatalf("build source %s: %v", name, err)
	}
	return s
}

// newSink builds a plan's sink, failures going to fail.
func newSink(t *testing.T, p *pipelines.Plan, name string, rt *component.Runtime, fail func(*record.Record, error)) component.Sink {
	t.Helper()
	n := node(t, p, name)
	if rt == nil {
		rt = &component.Runtime{Clock: component.SystemClock{}}
	}
	s, err := n.Spec.NewSink(component.BuildContext{Name: name, Config: n.Config, Input: n.Input, Runtime: rt, Fail: fail})
	if err != nil {
		t.Fatalf("build sink %s: %v", name, err)
	}
	return s
}

// readAll reads a source to its end: the records and the error records.
// Records a source leaves unchecked are checked as the engine checks them.
func readAll(t *testing.T, s component.Source) (recs, errs []string, err error) {
	t.Helper()
	err = s.Read(context.Background(),
		func(r *record.Record) error {
			if cerr := r.CheckJSON(); cerr != nil {
				errs = append(errs, string(component.ErrorRecord("in", r, cerr).Raw))
				return nil
			}
			if !record.Valid(r.Raw) {
				t.Errorf("record is not JSON: %s", r.Raw)
			}
			recs = append(recs, string(r.Raw))
			return nil
		},
		func(r *record.Record) error {
			if !r.Failed || !record.Valid(r.Raw) {
				t.Errorf("error record is not a failed JSON record: %s", r.Raw)
			}
			errs = append(errs, string(r.Raw))
			return nil
		})
	return recs, errs, err
}

// sourcePipeline is a pipeline reading a source configured by settings
// (a YAML flow mapping) from $IN into an NDJSON file.
func sourcePipeline(settings string) string {
	return "pipeline: t\nsources:\n  in:\n    file: " + settings + "\nsinks:\n  out:\n    from: in\n    file: {path: \"${OUT}\"}\n  bad:\n    from: in.error\n    file: {path: \"${BAD}\"}\n"
}

// readFiles reads path (a file or glob) with a file source of the given
// settings (path excluded, e.g. `format: csv`).
func readFiles(t *testing.T, path, settings string) (recs, errs []string, err error) {
	t.Helper()
	p := compile(t, sourcePipeline(`{path: "${IN}", `+settings+`}`), map[string]string{"IN": path, "OUT": "unused", "BAD": "unused"})
	return readAll(t, newSource(t, p, "in"))
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeGzip(t *testing.T, path, content string) string {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(content))
	z.Close()
	return write(t, path, b.String())
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(z); err != nil {
			t.Fatal(err)
		}
	}
	return string(b)
}

// runPipeline runs a whole pipeline with the engine.
func runPipeline(t *testing.T, src string, env map[string]string) *engine.Result {
	t.Helper()
	p := compile(t, src, env)
	res, err := engine.Run(context.Background(), p, engine.Options{Runtime: &component.Runtime{Clock: component.SystemClock{}}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// dirEntries lists a directory's names, sorted.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

type recordT = record.Record

func tempPath(t *testing.T, name string) string { return filepath.Join(t.TempDir(), name) }
