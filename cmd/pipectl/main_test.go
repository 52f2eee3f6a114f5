package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
//
// Each script also has a WMS stand-in at $WMS_URL that answers every
// request 503 with Retry-After: 20, for scripts about outages, and the
// command `wmsrequests N`, which waits until it has had N requests.
func TestScripts(t *testing.T) {
	wms := map[string]*outage{}
	var mu sync.Mutex
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		UpdateScripts:       *update,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			o := newOutage()
			env.Setenv("WMS_URL", o.srv.URL)
			env.Defer(o.srv.Close)
			mu.Lock()
			wms[env.WorkDir] = o
			mu.Unlock()
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"wmsrequests": func(ts *testscript.TestScript, neg bool, args []string) {
				n, err := strconv.Atoi(args[0])
				if len(args) != 1 || err != nil {
					ts.Fatalf("usage: wmsrequests N")
				}
				mu.Lock()
				o := wms[ts.Getenv("WORK")]
				mu.Unlock()
				deadline := time.Now().Add(10 * time.Second)
				for o.requests.Load() < int64(n) {
					if time.Now().After(deadline) {
						ts.Fatalf("the WMS stand-in had %d requests after 10s, want %d", o.requests.Load(), n)
					}
					time.Sleep(10 * time.Millisecond)
				}
			},
		},
	})
}

// outage is a WMS that is down: every request gets 503 and Retry-After: 20.
type outage struct {
	srv      *httptest.Server
	requests atomic.Int64
}

func newOutage() *outage {
	o := &outage{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	return o
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
