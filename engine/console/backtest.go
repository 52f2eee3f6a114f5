package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms/allocation"
)

// backtestOrders is how many recent orders a rules change is tried on.
const backtestOrders = 500

// Backtest is what a rules candidate would have decided for the last
// orders, against the stock each saw when it was decided: which outcomes
// change, and a few of them side by side.
type Backtest struct {
	Orders  int `json:"orders"`
	Changed int `json:"changed"`
	Skipped int `json:"skipped"` // recorded without their order, or failed to decide
	// OutOfScope are the orders the candidate's rule set `when` leaves
	// out: how far a pilot scope reaches.
	OutOfScope  int          `json:"out_of_scope"`
	Transitions []Transition `json:"transitions"`
	Samples     []Sample     `json:"samples"`
}

// Transition is how many orders went from one outcome to another.
type Transition struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// Sample is one order whose outcome would change, with its explain diff:
// each line before and after.
type Sample struct {
	Ref    string     `json:"ref"`
	From   string     `json:"from"`
	To     string     `json:"to"`
	Before string     `json:"before"`
	After  string     `json:"after"`
	Lines  []LineDiff `json:"lines"`
}

// LineDiff is one line of an order decided now and under a change.
type LineDiff struct {
	SKU     string `json:"sku"`
	Qty     string `json:"qty"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Rules   string `json:"rules_after"` // the rules that decided it under the change
	Changed bool   `json:"changed"`
}

// lineDiffs pairs the lines of two decisions of one order.
func lineDiffs(before, after allocation.Explanation) []LineDiff {
	var out []LineDiff
	for i, l := range before.Lines {
		d := LineDiff{SKU: l.SKU, Qty: l.Qty.String(), Before: lineFate(l)}
		if i < len(after.Lines) {
			d.After, d.Rules = lineFate(after.Lines[i]), strings.Join(after.Lines[i].Rules, ", ")
		}
		d.Changed = d.Before != d.After
		out = append(out, d)
	}
	return out
}

// backtest decides the pipeline's last recorded orders again under the
// candidate plan's allocate steps, changing nothing.
func (c *Console) backtest(ctx context.Context, pipeline string, candidate *pipelines.Plan) (*Backtest, error) {
	inv := c.srv.Inventory()
	if inv == nil || candidate == nil {
		return nil, nil
	}
	var steps []string
	for _, n := range candidate.Nodes {
		if n.Kind == "allocate" {
			steps = append(steps, n.Name)
		}
	}
	if len(steps) == 0 {
		return nil, nil
	}
	rt := &component.Runtime{Clock: component.SystemClock{}, Inventory: inv, DryRun: true}
	if p, ok := c.srv.Pipeline(pipeline); ok {
		rt.Dir = filepath.Dir(p.Path)
	}
	deciders := map[string]component.Redecider{}
	for _, s := range steps {
		r, err := engine.Redecider(ctx, candidate, s, rt)
		if err != nil {
			return nil, err
		}
		deciders[s] = r
	}
	recent, err := inv.RecentExplanations(ctx, backtestOrders*4)
	if err != nil {
		return nil, err
	}
	bt := &Backtest{}
	counts := map[[2]string]int{}
	prefix := "allocate:" + pipeline + "/"
	for _, e := range recent {
		if !strings.HasPrefix(e.IdempotencyKey, prefix) || bt.Orders >= backtestOrders {
			continue
		}
		bt.Orders++
		var before allocation.Explanation
		if json.Unmarshal(e.Data, &before) != nil {
			bt.Skipped++
			continue
		}
		// Any allocate step of the pipeline decides it: most have one.
		out, err := deciders[steps[0]].Redecide(ctx, e.Data)
		if errors.Is(err, component.ErrNotInScope) {
			bt.OutOfScope++
			continue
		}
		if err != nil {
			bt.Skipped++
			continue
		}
		var after allocation.Explanation
		if json.Unmarshal(out.Explanation, &after) != nil {
			bt.Skipped++
			continue
		}
		from, to := outcomeOfExplanation(before), outcomeOfExplanation(after)
		if from == to && verdictOf(before) == verdictOf(after) {
			continue
		}
		bt.Changed++
		counts[[2]string{from, to}]++
		if len(bt.Samples) < 5 {
			bt.Samples = append(bt.Samples, Sample{Ref: e.Ref, From: from, To: to, Before: lineSummary(before), After: lineSummary(after),
				Lines: lineDiffs(before, after)})
		}
	}
	for k, n := range counts {
		bt.Transitions = append(bt.Transitions, Transition{From: k[0], To: k[1], Count: n})
	}
	slices.SortFunc(bt.Transitions, func(a, b Transition) int { return b.Count - a.Count })
	return bt, nil
}

// outcomeOfExplanation is an order's outcome (component.OrderOutcome's
// words) from its explanation.
func outcomeOfExplanation(x allocation.Explanation) string {
	locs := map[string]bool{}
	var held, back, cancelled bool
	for _, l := range x.Lines {
		held = held || l.Held.IsPositive()
		back = back || l.Backordered.IsPositive()
		cancelled = cancelled || l.Cancelled.IsPositive()
		for _, f := range l.From {
			locs[f.LocationID] = true
		}
	}
	switch {
	case held:
		return "held"
	case back:
		return "backordered"
	case len(locs) > 1:
		return "split"
	case len(locs) == 1:
		return "allocated"
	case cancelled:
		return "cancelled"
	}
	return "none"
}

// lineSummary is each line's fate on one line: "RED 3: 1 wh-east + 2
// wh-west; BLUE 1: backordered 1".
func lineSummary(x allocation.Explanation) string {
	var parts []string
	for _, l := range x.Lines {
		parts = append(parts, fmt.Sprintf("%s %s: %s", l.SKU, l.Qty, lineFate(l)))
	}
	return strings.Join(parts, "; ")
}

// lineFate is what became of a line: "1 wh-east + backordered 2".
func lineFate(l allocation.LineDecision) string {
	var fate []string
	for _, f := range l.From {
		fate = append(fate, f.Qty.String()+" "+f.LocationID)
	}
	if l.Backordered.IsPositive() {
		fate = append(fate, "backordered "+l.Backordered.String())
	}
	if l.Held.IsPositive() {
		fate = append(fate, "held "+l.Held.String())
	}
	if l.Cancelled.IsPositive() {
		fate = append(fate, "cancelled "+l.Cancelled.String())
	}
	return strings.Join(fate, " + ")
}
