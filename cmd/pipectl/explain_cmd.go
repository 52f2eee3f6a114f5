package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// `pipectl explain` reads back what the allocate step stored for an order:
// one explanation per event applied (the order, later its cancellation),
// oldest first. The text format is for people; json passes the stored
// explanations through unchanged, for tools.

func runExplain(c *cli, args []string) int {
	fs := newFlags(c, "explain", "ORDER_ID [--state URL] [--format text|json]", `
Explain prints why a past order was allocated as it was: the stock the
allocate step saw at every location, how it ranked the locations for each
SKU, the fewest-shipments search if one ran, and for every line what was
allocated, backordered, cancelled or held and the rules that decided it.
In the stock seen, the safety stock is the one that was kept back, with
where it came from: the rule set's safety_stock, safety_stock_by_sku,
safety_stock_by_location (the larger of the two when both match), or the
stock row's own; reservations are marked "not counted" under
respect_reservations: false. So each row adds up to its available.
An order is explained under its id, or under the allocate step's key when
the pipeline sets one.
The explanations come from the state store the pipeline ran with; an order
it has none for exits 1.`, `  pipectl explain 1001
  pipectl explain 1001 --state sqlite:///var/lib/pipectl --format json | jq '.[0].explanation.lines'`)
	stateURL := fs.String("state", "", "state store URL: sqlite://PATH or postgres://…; default SQLite in ./.pipectl/")
	format := fs.String("format", "text", "output format: text or json")
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(c.stderr, "pipectl explain: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(c.stderr, "pipectl explain: name exactly one order id")
		return exitUsage
	}
	ref := pos[0]
	ctx := context.Background()
	store, err := openExistingStore(ctx, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl explain: %v\n", err)
		return exitError
	}
	defer store.Close()
	exps, err := store.Explanations(ctx, ref)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl explain: %v\n", err)
		return exitError
	}
	if len(exps) == 0 {
		fmt.Fprintf(c.stderr, "pipectl explain: no allocation recorded for order %q in this state store\n", ref)
		fmt.Fprintln(c.stderr, "check the order id (it is the allocate step's order id), and --state if pipectl runs with another store")
		return exitError
	}
	if *format == "json" {
		type entry struct {
			Ref            string          `json:"ref"`
			IdempotencyKey string          `json:"idempotency_key"`
			At             time.Time       `json:"at"`
			Explanation    json.RawMessage `json:"explanation"`
		}
		out := make([]entry, 0, len(exps))
		for _, e := range exps {
			raw := json.RawMessage(e.Data)
			if !json.Valid(raw) {
				raw, _ = json.Marshal(string(e.Data))
			}
			out = append(out, entry{e.Ref, e.IdempotencyKey, e.At.UTC(), raw})
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(c.stderr, "pipectl explain: %v\n", err)
			return exitError
		}
		return exitOK
	}
	for i, e := range exps {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		fmt.Fprintf(c.stdout, "order %s, event %s, decided %s\n", e.Ref, e.IdempotencyKey, e.At.UTC().Format(time.RFC3339))
		var x allocation.Explanation
		if err := json.Unmarshal(e.Data, &x); err != nil {
			fmt.Fprintf(c.stdout, "  (an explanation this pipectl cannot read: %v)\n  %s\n", err, e.Data)
			continue
		}
		writeExplanation(c.stdout, x, true)
	}
	return exitOK
}

// writeExplanation prints one decision: the verdict per line first, then
// the evidence (rules, rankings, and with stock the stock seen) it rests
// on.
func writeExplanation(w io.Writer, x allocation.Explanation, stock bool) {
	fmt.Fprintf(w, "  %s\n", verdict(x))
	if x.RulesVersion != "" {
		fmt.Fprintf(w, "  rules version: %s\n", x.RulesVersion)
	}
	fmt.Fprintf(w, "  strategy: %s\n", x.Strategy)
	if len(x.Candidates) > 0 {
		fmt.Fprintf(w, "  candidate locations, in order: %s\n", strings.Join(x.Candidates, ", "))
	}
	for _, ex := range x.Excluded {
		fmt.Fprintf(w, "  not considered: %s (%s)\n", ex.LocationID, excludedReason(ex.Reason))
	}
	if len(x.Lines) > 0 {
		fmt.Fprintln(w, "\n  lines:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "    LINE\tSKU\tQTY\tALLOCATED\tFROM\tBACKORDERED\tCANCELLED\tHELD\tDECIDED BY")
		for _, l := range x.Lines {
			id := l.LineID
			if l.ParentLineID != "" && l.ParentLineID != l.LineID {
				id = l.ParentLineID + " > " + l.LineID // a kit component
			}
			rules := "-"
			if len(l.Rules) > 0 {
				rules = strings.Join(l.Rules, ", ")
			}
			from := "-"
			if len(l.From) > 0 {
				var parts []string
				for _, f := range l.From {
					parts = append(parts, f.Qty.String()+" "+f.LocationID)
				}
				from = strings.Join(parts, ", ")
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, l.SKU, l.Qty, l.Allocated, from, l.Backordered, l.Cancelled, l.Held, rules)
		}
		tw.Flush()
	}
	if len(x.Rankings) > 0 {
		fmt.Fprintln(w, "\n  ranking per SKU (allocatable there):")
		for _, r := range x.Rankings {
			var parts []string
			for _, c := range r.Candidates {
				p := fmt.Sprintf("%d. %s (%s", c.Rank, c.LocationID, c.Allocatable)
				if c.DistanceKm != nil {
					p += fmt.Sprintf(", %.0f km", *c.DistanceKm)
				}
				if c.Pickup {
					p += ", pickup location"
				}
				parts = append(parts, p+")")
			}
			if len(parts) == 0 {
				parts = []string{"no candidate location"}
			}
			fmt.Fprintf(w, "    %s: %s\n", r.SKU, strings.Join(parts, "  "))
		}
	}
	if cs := x.Cover; cs != nil {
		fmt.Fprintf(w, "\n  fewest-shipments search: up to %d locations, %d combinations examined", cs.MaxK, cs.Examined)
		switch {
		case cs.Found:
			fmt.Fprintf(w, "; %s cover the whole order", strings.Join(cs.Locations, ", "))
		case cs.CapReached:
			fmt.Fprint(w, "; stopped at split.combo_search_cap without a cover")
		default:
			fmt.Fprint(w, "; no combination covers the whole order")
		}
		fmt.Fprintln(w)
	}
	if stock && len(x.Snapshot) > 0 {
		fmt.Fprintln(w, "\n  stock seen (available = on hand - committed - reserved - safety stock):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "    SKU\tLOCATION\tON HAND\tCOMMITTED\tRESERVED\tSAFETY\tAVAILABLE\tALLOCATABLE")
		for _, s := range x.Snapshot {
			loc := s.LocationID
			if !s.Exists {
				loc += " (no stock row)"
			}
			reserved := s.Reserved.String()
			if s.ReservedIgnored {
				reserved += " (not counted)"
			}
			safety := s.SafetyStock.String()
			if s.SafetyStockFrom != "" {
				safety += " (" + s.SafetyStockFrom + ")"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.SKU, loc, s.OnHand, s.Committed, reserved, safety, s.Available, s.Allocatable)
		}
		tw.Flush()
	}
}

// verdict sums up an order's lines in one sentence.
func verdict(x allocation.Explanation) string {
	var backordered, cancelled, held, short []string
	for _, l := range x.Lines {
		if l.Backordered.IsPositive() {
			backordered = append(backordered, l.LineID)
		}
		if l.Cancelled.IsPositive() {
			cancelled = append(cancelled, l.LineID)
		}
		if l.Held.IsPositive() {
			held = append(held, l.LineID)
		}
		if l.Allocated.LessThan(l.Qty) {
			short = append(short, l.LineID)
		}
	}
	var parts []string
	if len(short) == 0 && len(x.Lines) > 0 {
		parts = append(parts, "fully allocated")
	}
	var from []string // where the lines were allocated, in order
	for _, l := range x.Lines {
		for _, f := range l.From {
			if !slices.Contains(from, f.LocationID) {
				from = append(from, f.LocationID)
			}
		}
	}
	switch {
	case x.Cover != nil && x.Cover.Found && len(x.Cover.Locations) > 1:
		parts = append(parts, fmt.Sprintf("split across %s", strings.Join(x.Cover.Locations, ", ")))
	case len(from) > 1:
		parts = append(parts, fmt.Sprintf("split across %s", strings.Join(from, ", ")))
	}
	for _, p := range []struct {
		what  string
		lines []string
	}{{"backordered", backordered}, {"cancelled", cancelled}, {"held", held}} {
		if len(p.lines) > 0 {
			parts = append(parts, fmt.Sprintf("%s: line %s", p.what, strings.Join(p.lines, ", ")))
		}
	}
	if len(parts) == 0 {
		return "nothing allocated"
	}
	return strings.Join(parts, "; ")
}

func excludedReason(r string) string {
	switch r {
	case "exclude_locations":
		return "listed in allocation.exclude_locations"
	case "other_market":
		return "another market, and allocation.same_market_only is on"
	}
	return r
}
