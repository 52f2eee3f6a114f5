package pipelines_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/transforms"
)

var updateGenerated = flag.Bool("update-generated", false, "rewrite the generated schema and reference files")

// TestGeneratedFiles fails when a checked-in generated file differs from
// what the specs generate now. `go generate ./...` rewrites them.
func TestGeneratedFiles(t *testing.T) {
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	lib := exprs.NewLibrary(component.FixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	files := map[string][]byte{
		"../schemas/pipeline.schema.json": pipelines.PipelineSchema(reg),
		"../schemas/rules.schema.json":    pipelines.RulesSchema(reg),
		"../docs/reference.md":            pipelines.Reference(reg, lib),
	}
	for path, want := range files {
		if *updateGenerated {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./...)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./... and commit the result", path)
		}
	}
}
