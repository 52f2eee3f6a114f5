// Package bench measures pipectl on the reference workload
// (../shared/bench/REFERENCE.md) against fastbase, the same mapping written
// by hand in Go, in the same run: speed is quoted as a ratio, never as a
// time alone. bench.sh runs the whole comparison on the 200,000-order file.
package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// orders returns the path of an NDJSON file of n reference orders, made by
// the reference generator.
func orders(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), "pipectl-bench-orders-"+itoa(n)+".ndjson")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	gen := filepath.Join("..", "..", "shared", "bench", "gen_orders.py")
	out, err := exec.Command("python3", gen, itoa(n)).Output()
	if err != nil {
		b.Skipf("cannot generate the reference input with %s: %v", gen, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

func itoa(n int) string { return strconv.Itoa(n) }

func plan(b *testing.B, in, out string) *pipelines.Plan {
	b.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	env := map[string]string{"ORDERS_IN": in, "ORDERS_OUT": out, "ORDERS_FAILED": out + ".failed"}
	p, _, ds := pipelines.Validate("../examples/reference-orders/pipeline.yaml", pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(),
	})
	if p == nil {
		b.Fatalf("reference pipeline does not compile: %v", ds)
	}
	return p
}

// BenchmarkReference runs the reference pipeline over 20,000 orders,
// alternating with the hand-written mapping, and reports pipectl's
// throughput as a ratio to it (x-handwritten) besides its own speed.
func BenchmarkReference(b *testing.B) {
	engine.TuneGC() // as pipectl run does
	for _, workers := range []int{1, 2} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			in := orders(b, 20000)
			out := filepath.Join(b.TempDir(), "out.ndjson")
			p := plan(b, in, out)
			info, _ := os.Stat(in)
			b.SetBytes(info.Size())
			var ours, theirs time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := engine.Run(context.Background(), p, engine.Options{Workers: workers}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := handWritten(in, out+".hand"); err != nil {
					b.Fatal(err)
				}
				ours += t1.Sub(t0)
				theirs += time.Since(t1)
			}
			b.ReportMetric(float64(theirs)/float64(ours), "x-handwritten")
		})
	}
}

// BenchmarkScan is the I/O floor: reading the same file line by line.
func BenchmarkScan(b *testing.B) {
	in := orders(b, 20000)
	info, _ := os.Stat(in)
	b.SetBytes(info.Size())
	for range b.N {
		f, _ := os.Open(in)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
		}
		f.Close()
	}
}
