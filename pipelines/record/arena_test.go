package record_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/record"
)

// randomRecord makes a record of varied shape: nested objects, arrays of
// objects, strings with and without escapes, small and large integers.
func randomRecord(r *rand.Rand) string {
	lines := ""
	for i := range r.IntN(5) {
		if i > 0 {
			lines += ","
		}
		lines += fmt.Sprintf(`{"sku":"S-%d","quantity":%d,"price":"%d.%02d"}`, r.IntN(1000), r.IntN(400), r.IntN(500), r.IntN(100))
	}
	return fmt.Sprintf(`{"id":%d,"name":"#%d","note":"a\"b\u00e9 %d","test":%v,"customer":{"first_name":"Ana %d","tags":["x","y%d"]},"line_items":[%s],"f":%d.5}`,
		r.Int64(), r.IntN(100000), r.IntN(10), r.IntN(2) == 0, r.IntN(50), r.IntN(300), lines, r.IntN(9))
}

// Decoding into an arena gives exactly what decoding without one gives;
// what was decoded stays intact until the arena is reset, however many
// records are decoded after it; and after a reset the arena's maps and
// slices are reused without leaking one record's fields into another.
func TestArenaDecodesLikeTheHeap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a := record.NewArena()
	for batch := range 50 {
		a.Reset()
		type decoded struct {
			raw    string
			fields map[string]any
		}
		var held []decoded
		for range 1 + r.IntN(40) {
			raw := randomRecord(r)
			rec := record.New([]byte(raw), nil)
			rec.DecodeIn(a)
			held = append(held, decoded{raw, rec.Fields(nil)})
		}
		for i, d := range held {
			want := record.New([]byte(d.raw), nil).Fields(nil)
			if diff := cmp.Diff(want, d.fields); diff != "" {
				t.Fatalf("batch %d record %d decoded in the arena differs (-heap +arena):\n%s", batch, i, diff)
			}
		}
	}
}

// A released record forgets its arena: it decodes again on the heap, so
// resetting the arena cannot change what it reads.
func TestReleasedRecordDecodesOnItsOwn(t *testing.T) {
	a := record.NewArena()
	rec := record.New([]byte(`{"a":{"b":1000},"s":"x"}`), nil)
	rec.DecodeIn(a)
	_ = rec.Fields(nil)
	rec.Release()
	got := rec.Fields(nil)
	a.Reset()
	other := record.New([]byte(`{"a":{"b":2000},"s":"y"}`), nil)
	other.DecodeIn(a)
	_ = other.Fields(nil)
	if diff := cmp.Diff(map[string]any{"a": map[string]any{"b": 1000}, "s": "x"}, got); diff != "" {
		t.Errorf("released record's fields changed after the arena was reused:\n%s", diff)
	}
}

func BenchmarkFieldsArena(b *testing.B) {
	raw := []byte(order)
	a := record.NewArena()
	b.ReportAllocs()
	for range b.N {
		a.Reset()
		rec := record.New(raw, nil)
		rec.DecodeIn(a)
		_ = rec.Fields(nil)
	}
}
