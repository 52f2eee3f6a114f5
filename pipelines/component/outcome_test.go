package component

import "testing"

// An order gets the first outcome that applies: a hold or a backorder
// matters more to a merchant than how many boxes the rest ships in.
func TestOrderOutcome(t *testing.T) {
	recs := func(outputs ...string) Outcome {
		var o Outcome
		for _, out := range outputs {
			o.Records = append(o.Records, OutputRecord{Output: out})
		}
		return o
	}
	for _, c := range []struct {
		out  Outcome
		want string
	}{
		{recs("allocations", "shipments"), "allocated"},
		{recs("allocations", "allocations", "shipments", "shipments"), "split"},
		{recs("shipments", "shipments", "backorders"), "backordered"},
		{recs("backorders", "notifications"), "backordered"},
		{recs("holds", "backorders"), "held"},
		{recs("cancellations"), "cancelled"},
		{recs(), "none"},
	} {
		if got := OrderOutcome(c.out); got != c.want {
			t.Errorf("%v: %s, want %s", c.out.Records, got, c.want)
		}
	}
}
