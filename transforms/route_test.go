package transforms_test

import (
	"testing"
)

func routePipeline(mode string) string {
	return source("") + `steps:
  by:
    from: in
    route:
      mode: ` + mode + `
      routes:
        big: total > 100
        foreign: lower(country) != "us"
` + sinks("by.big", "by.foreign", "by.unmatched", "by.error")
}

var routeInputs = []string{
	`{"total":150,"country":"US"}`,
	`{"total":150,"country":"DE"}`,
	`{"total":5,"country":"DE"}`,
	`{"total":5,"country":"US"}`,
}

func TestRouteFirst(t *testing.T) {
	res := run(t, compile(t, routePipeline("first")), nil, 2, routeInputs...)
	equal(t, "big", got(t, res, "by.big"), []string{routeInputs[0], routeInputs[1]})
	equal(t, "foreign", got(t, res, "by.foreign"), []string{routeInputs[2]})
	equal(t, "unmatched", got(t, res, "by.unmatched"), []string{routeInputs[3]})
	wantCounts(t, res, "by", counts{In: 4, Out: 4, Emitted: 4})
}

func TestRouteAll(t *testing.T) {
	res := run(t, compile(t, routePipeline("all")), nil, 1, routeInputs...)
	equal(t, "big", got(t, res, "by.big"), []string{routeInputs[0], routeInputs[1]})
	equal(t, "foreign", got(t, res, "by.foreign"), []string{routeInputs[1], routeInputs[2]})
	equal(t, "unmatched", got(t, res, "by.unmatched"), []string{routeInputs[3]})
	wantCounts(t, res, "by", counts{In: 4, Out: 4, Emitted: 5})
}

// A condition that fails sends the record to the error output only, even
// when an earlier route matched: a record is never half routed.
func TestRouteFailures(t *testing.T) {
	for _, mode := range []string{"first", "all"} {
		t.Run(mode, func(t *testing.T) {
			tests := []struct{ record, words string }{
				{`{"total":"150","country":"US"}`, "invalid operation"}, // a string at run time
				{`{"country":"US"}`, "total is null"},                   // missing total
				{`{"total":150,"country":7}`, "lower"},                  // mode all evaluates foreign too
			}
			for i, tt := range tests {
				if mode == "first" && i == 2 {
					continue // first stops at big
				}
				res := run(t, compile(t, routePipeline(mode)), nil, 1, tt.record)
				for _, o := range []string{"by.big", "by.foreign", "by.unmatched"} {
					equal(t, o, got(t, res, o), []string{})
				}
				errs := errorsAt(t, res, "by.error")
				if len(errs) != 1 {
					t.Fatalf("%s: %d error records, want 1", tt.record, len(errs))
				}
				wantError(t, errs[0], "by", tt.record, tt.words)
				wantCounts(t, res, "by", counts{In: 1, Errored: 1})
			}
		})
	}
}
