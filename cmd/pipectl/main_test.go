package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the golden files inside testdata/script/*.txtar from the actual output")

// TestMain lets the test binary stand in for pipectl: testscript puts it on
// the scripts' PATH under that name, and running it calls run in-process, so
// the scripts exercise exactly what main does.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pipectl": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script. Each asserts exit
// codes and compares output with golden files inside its txtar archive;
// `go test ./cmd/pipectl -run TestScripts -update` rewrites those files.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// TestSchemaIsCheckedIn asserts that the schemas editors read from the
// repository are the ones `pipectl schema` prints. Testscript cannot see
// repository files, so this is a Go test; `go generate ./pipelines`
// refreshes the checked-in files.
func TestSchemaIsCheckedIn(t *testing.T) {
	for _, tc := range []struct {
		args []string
		file string
	}{
		{[]string{"schema"}, "pipeline.schema.json"},
		{[]string{"schema", "--rules"}, "rules.schema.json"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, strings.NewReader(""), &stdout, &stderr); code != exitOK {
				t.Fatalf("pipectl %s: exit %d, stderr:\n%s", strings.Join(tc.args, " "), code, stderr.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("pipectl %s wrote to stderr:\n%s", strings.Join(tc.args, " "), stderr.String())
			}
			path := filepath.Join("..", "..", "schemas", tc.file)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("pipectl %s differs from %s: run `go generate ./pipelines` and commit the result", strings.Join(tc.args, " "), path)
			}
		})
	}
}
