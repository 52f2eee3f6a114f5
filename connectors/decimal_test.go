package connectors_test

import (
	"path/filepath"
	"slices"
	"testing"
)

// Decimals reach an HTTP body with their digits and scale, both in a body
// mapping computing with them and in the record sent as it is, from a CSV
// column typed decimal and from a step computing decimals.
func TestHTTPBodyDecimals(t *testing.T) {
	srv := newServer(t, nil)
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "in.csv"), "sku,cost\nA,0.10\nB,12345678901234567.89\n")
	src := `pipeline: t
sources:
  in:
    file: {path: "${IN}", format: csv, columns: {cost: decimal}}
steps:
  priced:
    from: in
    map: {sku: sku, cost: cost, total: cost * 3}
sinks:
  mapped:
    from: priced
    http:
      url: "${URL}/mapped"
      body: {sku: sku, total: total, cost_plus: cost + decimal("0.50")}
  whole:
    from: priced
    http: {url: "${URL}/whole"}
`
	runPipeline(t, src, map[string]string{"IN": in, "URL": srv.URL})
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.Path+" "+r.Body)
	}
	slices.Sort(got)
	want := []string{
		`/mapped {"sku":"A","total":0.30,"cost_plus":0.60}`,
		`/mapped {"sku":"B","total":37037036703703703.67,"cost_plus":12345678901234568.39}`,
		`/whole {"sku":"A","cost":0.10,"total":0.30}`,
		`/whole {"sku":"B","cost":12345678901234567.89,"total":37037036703703703.67}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("bodies:\n%v\nwant\n%v", got, want)
	}
}
