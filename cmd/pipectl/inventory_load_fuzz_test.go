package main

import (
	"strings"
	"testing"
)

// FuzzSeedFile feeds the seed file loader arbitrary text: it never panics,
// and a file it accepts names every location, SKU and stock row, with
// quantities the store can keep.
func FuzzSeedFile(f *testing.F) {
	for _, seed := range []string{
		"locations:\n  - {id: wh-east, priority: 1, coords: {lat: 40.7, lng: -74}}\nskus:\n  - {sku: KIT, components: [{sku: A, qty: 2}]}\n",
		"levels:\n  A: {wh-east: 5, wh-west: {on_hand: 3, safety_stock: 1}}\n",
		"levels:\n  A: {wh-east: -2.5}\n  B: {' x': 1, wh: {on_hand: 1.00001}}\n",
		"levels: {A: {wh: {safety_stock: -1}}}\n",
		"levels: [1, 2]\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		l := &seedLoader{path: "seed.yaml"}
		sd := l.load([]byte(src))
		if l.ds.HasErrors() {
			return
		}
		for _, loc := range sd.locations {
			if loc.ID == "" || strings.TrimSpace(loc.ID) != loc.ID {
				t.Fatalf("accepted location id %q", loc.ID)
			}
		}
		for _, s := range sd.skus {
			if s.SKU == "" {
				t.Fatal("accepted an empty SKU")
			}
		}
		for _, lv := range sd.levels {
			switch {
			case lv.sku == "" || lv.location == "":
				t.Fatalf("accepted a stock row without SKU or location: %+v", lv)
			case !lv.qty.Equal(lv.qty.Truncate(4)):
				t.Fatalf("accepted %s: more than 4 decimal places", lv.qty)
			case lv.bucket == "safety_stock" && lv.qty.IsNegative():
				t.Fatalf("accepted a negative safety stock %s", lv.qty)
			case lv.bucket != "on_hand" && lv.bucket != "safety_stock":
				t.Fatalf("accepted bucket %q", lv.bucket)
			}
		}
	})
}
