package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// `pipectl inventory load` applies a seed file, the way a team keeps its
// locations and kits in version control, and seeds stock:
//
//	locations:
//	  - {id: wh-east, name: East DC, priority: 1, market: US, coords: {lat: 40.7, lng: -74.0}}
//	  - {id: store-soho, priority: 5, pickup: true}
//	skus:
//	  - {sku: GIFT-CARD, tracked: false}
//	  - {sku: KIT-1, components: [{sku: BOLT, qty: 4}, {sku: NUT, qty: 4}]}
//	levels:
//	  SKU-1: {wh-east: 40, store-soho: {on_hand: 3, safety_stock: 1}}
//
// The whole file is checked before anything is written, and every mistake
// is reported at once with its file:line:col, as `pipectl validate` does for
// pipelines. Each entry is declarative: the location or SKU becomes exactly
// what the entry says, keys left out taking their defaults; locations and
// SKUs the file does not name are left alone. Entries that already match
// the store are skipped, so loading a file twice records nothing the second
// time.
//
// Stock is not declarative: it moves with every order, shipment and feed,
// and a seed reloaded at every deploy must not reset it. Each stock entry
// is a feed update keyed by what it says (SKU, location, bucket and
// quantity), as the inventory sink keys its updates, so it is applied
// once: a second load skips it even where the stock has moved since. To
// count again, change the entry or use `pipectl inventory level set`.
// The levels take the shape of a pipeline test's `inventory.levels`, so a
// test's stock can be loaded as it is.

var (
	seedKeys         = []string{"locations", "skus", "levels"}
	seedLevelKeys    = []string{"on_hand", "safety_stock"}
	seedLocationKeys = []string{"id", "name", "priority", "market", "coords", "pickup", "disabled"}
	seedCoordsKeys   = []string{"lat", "lng"}
	seedSKUKeys      = []string{"sku", "tracked", "qty_decimal", "components"}
	seedCompKeys     = []string{"sku", "qty"}
)

// seed is a decoded seed file.
type seed struct {
	locations []component.Location
	skus      []component.SKU
	levels    []seedLevel
}

// seedLevel is one bucket of one stock row in a seed file.
type seedLevel struct {
	sku, location string
	bucket        component.Bucket
	qty           decimal.Decimal
	at            *yaml.Node // the quantity, for diagnostics
}

// key is the feed key of a stock entry: what it says, so it applies once.
func (s seedLevel) key() string {
	return "pipectl inventory load:" + s.sku + "@" + s.location + ":" + string(s.bucket) + "=" + s.qty.String()
}

// seedLoader decodes a seed file's YAML nodes, collecting diagnostics.
type seedLoader struct {
	path string
	ds   diag.Diagnostics
}

func runInventoryLoad(c *cli, args []string) int {
	const cmd = "inventory load"
	fs := newFlags(c, cmd, "FILE.yaml [--reason TEXT] [--actor NAME] [--state URL]", `
Load applies a seed file of locations, SKU settings and stock:

  locations:
    - {id: wh-east, name: East DC, priority: 1, market: US, coords: {lat: 40.7, lng: -74.0}}
    - {id: store-soho, priority: 5, pickup: true, disabled: false}
  skus:
    - {sku: GIFT-CARD, tracked: false}
    - {sku: FABRIC-1M, qty_decimal: true}
    - {sku: KIT-1, components: [{sku: BOLT, qty: 4}, {sku: NUT, qty: 4}]}
  levels:                          # on hand, or {on_hand, safety_stock}
    BOLT: {wh-east: 400, store-soho: {on_hand: 20, safety_stock: 5}}
    FABRIC-1M: {wh-east: 12.5}

The whole file is checked first; its mistakes (unknown keys, wrong types,
values out of range, an id given twice, a fraction of a SKU counted in
whole units) are printed with file:line:col and nothing is written. Each
location and SKU becomes exactly what its entry says, keys left out taking
their defaults (priority 0, tracked true); those the file does not name are
left alone. Entries that already match the store are skipped, so loading
the same file again records nothing. Every change is recorded in the audit
log (stock as level/SKU@LOCATION), with --reason if given, and stock in the
ledger too.

Stock moves with every order and shipment, so a stock entry is applied
once, keyed by what it says (SKU, location, bucket, quantity): loading the
file again leaves the row alone even if the stock has moved since. Change
the entry, or use 'pipectl inventory level set', to count again.`, `  pipectl inventory load inventory.yaml
  pipectl inventory load inventory.yaml --reason "Q3 network" --state postgres://pipectl@db/pipectl`)
	reason := fs.String("reason", "", `why, for the audit log (default "pipectl inventory load FILE")`)
	actor := fs.String("actor", defaultActor(), "who makes the change, for the audit log")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(c.stderr, "pipectl inventory load: name one seed file")
		return exitUsage
	}
	if !checkAudit(c, cmd, *reason, *actor, false) {
		return exitUsage
	}
	path := pos[0]
	why := *reason
	if strings.TrimSpace(why) == "" {
		why = "pipectl inventory load " + path
	}
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, unwrap(err))
		return exitError
	}
	l := &seedLoader{path: path}
	sd := l.load(src)
	if ds := l.ds.Sorted(); ds.HasErrors() {
		writeDiagnostics(c.stderr, "text", ds, diag.Sources{path: src})
		errs, _ := ds.Count()
		fmt.Fprintf(c.stderr, "pipectl %s: %s has %s; nothing was changed\n", cmd, path, plural(errs, "error"))
		return exitError
	}
	if len(sd.locations) == 0 && len(sd.skus) == 0 && len(sd.levels) == 0 {
		fmt.Fprintf(c.stdout, "%s names no locations, SKUs or stock; nothing to do\n", path)
		return exitOK
	}

	ctx := context.Background()
	store, err := openInventoryForWriting(ctx, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	defer store.Close()
	by := component.Change{Actor: *actor, Reason: why}
	locs, err := store.Locations(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	var names []string
	for _, s := range sd.skus {
		names = append(names, s.SKU)
	}
	for _, lv := range sd.levels {
		names = append(names, lv.sku)
	}
	skus, err := store.SKUs(ctx, names)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	// A fraction of a SKU counted in whole units, as the file or else the
	// store sets it, is refused before anything is written.
	decimalSKU := func(name string) bool {
		if i := slices.IndexFunc(sd.skus, func(s component.SKU) bool { return s.SKU == name }); i >= 0 {
			return sd.skus[i].QtyDecimal
		}
		return skus[name].QtyDecimal
	}
	for _, lv := range sd.levels {
		if !lv.qty.Equal(lv.qty.Truncate(0)) && !decimalSKU(lv.sku) {
			l.errorf(lv.at, pipelines.CodeInvalidValue, "%s %s of %s at %s is fractional, and %s is counted in whole units (set qty_decimal: true in its settings)",
				lv.bucket, lv.qty, lv.sku, lv.location, lv.sku)
		}
	}
	if ds := l.ds.Sorted(); ds.HasErrors() {
		writeDiagnostics(c.stderr, "text", ds, diag.Sources{path: src})
		errs, _ := ds.Count()
		fmt.Fprintf(c.stderr, "pipectl %s: %s has %s; nothing was changed\n", cmd, path, plural(errs, "error"))
		return exitError
	}
	var levels []component.Level
	if len(sd.levels) > 0 {
		if levels, err = store.Levels(ctx, names); err != nil {
			fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
			return exitError
		}
	}

	// Each change is its own transaction: the store has no batch of them.
	// A failure part way is reported with what was already applied; the
	// file can be loaded again, since what was applied is skipped then.
	applied, unchanged := 0, 0
	fail := func(err error) int {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		if applied > 0 {
			fmt.Fprintf(c.stderr, "pipectl %s: %s applied before the failure stay; loading the file again applies the rest\n", cmd, plural(applied, "change"))
		}
		return exitError
	}
	for _, loc := range sd.locations {
		var old *component.Location
		if i := slices.IndexFunc(locs, func(l component.Location) bool { return l.ID == loc.ID }); i >= 0 {
			old = &locs[i]
		}
		changes := locationDiff(old, loc)
		if old != nil && len(changes) == 0 {
			unchanged++
			continue
		}
		if err := store.SetLocation(ctx, loc, by); err != nil {
			return fail(err)
		}
		applied++
		printChanges(c, "location", loc.ID, old == nil, changes)
	}
	for _, s := range sd.skus {
		var old *component.SKU
		if o, ok := skus[s.SKU]; ok {
			old = &o
		}
		changes := skuDiff(old, s)
		if old != nil && len(changes) == 0 {
			unchanged++
			continue
		}
		if err := store.SetSKU(ctx, s, by); err != nil {
			return fail(err)
		}
		applied++
		printChanges(c, "SKU", s.SKU, old == nil, changes)
	}
	loadedBefore := 0
	for _, lv := range sd.levels {
		i := slices.IndexFunc(levels, func(l component.Level) bool { return l.SKU == lv.sku && l.Location == lv.location && l.Exists })
		if i < 0 {
			i = len(levels)
			levels = append(levels, component.Level{SKU: lv.sku, Location: lv.location})
		}
		old := levels[i]
		// The row as this load leaves it, for the row's next bucket.
		levels[i].Exists = true
		if lv.bucket == component.SafetyStock {
			levels[i].SafetyStock = lv.qty
		} else {
			levels[i].OnHand = lv.qty
		}
		u := component.LevelUpdate{Key: lv.key(), SKU: lv.sku, Location: lv.location, Bucket: lv.bucket, Quantity: lv.qty, Reason: why, By: &by}
		ok, err := store.SetLevel(ctx, u)
		switch {
		case err != nil:
			return fail(err)
		case !ok:
			loadedBefore++
		case old.Exists && bucketOf(old, string(lv.bucket)).Equal(lv.qty), !old.Exists && lv.qty.IsZero():
			unchanged++
		default:
			was := "-"
			if old.Exists {
				was = bucketOf(old, string(lv.bucket)).String()
			}
			fmt.Fprintf(c.stdout, "level %s@%s: %s: %s -> %s\n", lv.sku, lv.location, lv.bucket, was, lv.qty)
			applied++
		}
	}
	summary := fmt.Sprintf("recorded %s in the audit log; %d already as the file says", plural(applied, "change"), unchanged)
	if loadedBefore > 0 {
		summary += fmt.Sprintf("; %s loaded before, left as they are", plural(loadedBefore, "stock level"))
	}
	fmt.Fprintln(c.stdout, summary)
	return exitOK
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// load decodes the file; what it returns is meaningful only when no error
// was reported.
func (l *seedLoader) load(src []byte) seed {
	var sd seed
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		l.ds.Errorf(diag.At(diag.Pos{File: l.path, Line: line, Col: 1}, 1), pipelines.CodeYAMLSyntax, "YAML syntax error: %s", strings.TrimPrefix(msg, "yaml: "))
		return sd
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return sd
	}
	root := doc.Content[0]
	if !l.mapping(root, "a seed file") {
		return sd
	}
	l.pairs(root, "the seed file", seedKeys, func(k, v *yaml.Node) {
		switch k.Value {
		case "locations":
			ids := map[string]int{}
			for _, n := range l.list(v, "`locations`") {
				if loc, ok := l.location(n); ok {
					if line, dup := ids[loc.ID]; dup {
						l.errorf(valueOf(n, "id"), pipelines.CodeDuplicateName, "location %s is already given at line %d", loc.ID, line)
						continue
					}
					ids[loc.ID] = n.Line
					sd.locations = append(sd.locations, loc)
				}
			}
		case "levels":
			sd.levels = l.levels(v)
		case "skus":
			names := map[string]int{}
			for _, n := range l.list(v, "`skus`") {
				if s, ok := l.sku(n); ok {
					if line, dup := names[s.SKU]; dup {
						l.errorf(valueOf(n, "sku"), pipelines.CodeDuplicateName, "SKU %s is already given at line %d", s.SKU, line)
						continue
					}
					names[s.SKU] = n.Line
					sd.skus = append(sd.skus, s)
				}
			}
		}
	})
	return sd
}

// levels reads `levels:`: SKU to location to a quantity on hand, or to
// {on_hand, safety_stock}.
func (l *seedLoader) levels(n *yaml.Node) []seedLevel {
	var out []seedLevel
	if !l.mapping(n, "`levels`") {
		return nil
	}
	l.named(n, "`levels`", "SKU", func(sku string, locs *yaml.Node) {
		if !l.mapping(locs, "the stock of "+sku) {
			return
		}
		l.named(locs, "the stock of "+sku, "location", func(loc string, q *yaml.Node) {
			entry := func(bucket string, v *yaml.Node) {
				d, ok := l.quantity(v, bucket, sku, loc)
				if ok {
					out = append(out, seedLevel{sku: sku, location: loc, bucket: component.Bucket(bucket), qty: d, at: v})
				}
			}
			if q.Kind == yaml.ScalarNode {
				entry("on_hand", q)
				return
			}
			if !l.mapping(q, "the stock of "+sku+" at "+loc) {
				return
			}
			l.pairs(q, "a stock row", seedLevelKeys, func(k, v *yaml.Node) { entry(k.Value, v) })
		})
	})
	return out
}

// named calls f for each key of a mapping whose keys are names (SKUs,
// locations), reporting names empty or with spaces around them, and names
// given twice.
func (l *seedLoader) named(n *yaml.Node, where, what string, f func(name string, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.name(k, "a "+what)
		if !ok {
			continue
		}
		if line, dup := seen[name]; dup {
			l.errorf(k, pipelines.CodeDuplicateKey, "%s %s is given twice in %s (first at line %d)", what, name, where, line)
			continue
		}
		seen[name] = k.Line
		f(name, v)
	}
}

// quantity reads the quantity of a bucket of a stock row.
func (l *seedLoader) quantity(n *yaml.Node, bucket, sku, loc string) (decimal.Decimal, bool) {
	what := fmt.Sprintf("%s of %s at %s", bucket, sku, loc)
	if !l.scalar(n, what, "a number") {
		return decimal.Decimal{}, false
	}
	if tag := n.ShortTag(); tag != "!!int" && tag != "!!float" {
		l.errorf(n, pipelines.CodeWrongType, "%s must be a number, not %s", what, nodeName(n))
		return decimal.Decimal{}, false
	}
	d, err := levelQuantity(bucket, n.Value)
	if err != nil {
		l.errorf(n, pipelines.CodeInvalidValue, "%s %s: %v", what, n.Value, err)
		return decimal.Decimal{}, false
	}
	return d, true
}

// valueOf is the value of key in mapping n, or n itself when it has none,
// so a diagnostic about an entry's id points at the id.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

func (l *seedLoader) location(n *yaml.Node) (component.Location, bool) {
	var loc component.Location
	if !l.mapping(n, "a location") {
		return loc, false
	}
	ok := true
	var lat, lng *yaml.Node
	var coords *yaml.Node
	l.pairs(n, "a location", seedLocationKeys, func(k, v *yaml.Node) {
		var good bool
		switch k.Value {
		case "id":
			loc.ID, good = l.name(v, "a location's id")
		case "name":
			loc.Name, good = l.str(v, "name")
		case "market":
			loc.Market, good = l.str(v, "market")
		case "priority":
			loc.Priority, good = l.integer(v, "priority")
		case "pickup":
			loc.Pickup, good = l.boolean(v, "pickup")
		case "disabled":
			loc.Disabled, good = l.boolean(v, "disabled")
		case "coords":
			coords, good = v, true
			if !l.mapping(v, "coords") {
				good = false
				break
			}
			l.pairs(v, "coords", seedCoordsKeys, func(k, v *yaml.Node) {
				if k.Value == "lat" {
					lat = v
				} else {
					lng = v
				}
			})
		}
		ok = ok && good
	})
	if coords != nil && coords.Kind == yaml.MappingNode {
		switch {
		case lat == nil || lng == nil:
			l.errorf(coords, pipelines.CodeMissingField, "coords need both lat and lng")
			ok = false
		default:
			la, okLat := l.degrees(lat, "lat", 90)
			ln, okLng := l.degrees(lng, "lng", 180)
			if okLat && okLng {
				loc.Coords = &component.LatLng{Lat: la, Lng: ln}
			}
			ok = ok && okLat && okLng
		}
	}
	if loc.ID == "" && ok {
		l.errorf(n, pipelines.CodeMissingField, "a location needs an `id`")
		ok = false
	}
	return loc, ok
}

func (l *seedLoader) sku(n *yaml.Node) (component.SKU, bool) {
	s := component.SKU{Tracked: true}
	if !l.mapping(n, "SKU settings") {
		return s, false
	}
	ok := true
	var comps *yaml.Node
	l.pairs(n, "SKU settings", seedSKUKeys, func(k, v *yaml.Node) {
		var good bool
		switch k.Value {
		case "sku":
			s.SKU, good = l.name(v, "a SKU")
		case "tracked":
			s.Tracked, good = l.boolean(v, "tracked")
		case "qty_decimal":
			s.QtyDecimal, good = l.boolean(v, "qty_decimal")
		case "components":
			comps, good = v, true
		}
		ok = ok && good
	})
	if s.SKU == "" {
		if ok {
			l.errorf(n, pipelines.CodeMissingField, "SKU settings need a `sku`")
		}
		return s, false
	}
	if comps != nil && comps.ShortTag() != "!!null" {
		for _, cn := range l.list(comps, "`components`") {
			if !l.mapping(cn, "a kit component") {
				ok = false
				continue
			}
			var name, q *yaml.Node
			l.pairs(cn, "a kit component", seedCompKeys, func(k, v *yaml.Node) {
				if k.Value == "sku" {
					name = v
				} else {
					q = v
				}
			})
			if name == nil || q == nil {
				l.errorf(cn, pipelines.CodeMissingField, "a kit component needs a `sku` and a `qty`")
				ok = false
				continue
			}
			sku, good := l.name(name, "a component's sku")
			if !good {
				ok = false
				continue
			}
			if q.Kind != yaml.ScalarNode || q.ShortTag() == "!!null" || q.ShortTag() == "!!bool" {
				l.errorf(q, pipelines.CodeWrongType, "qty must be a number, not %s", nodeName(q))
				ok = false
				continue
			}
			c, err := kitComponent(s.SKU, sku, q.Value)
			if err != nil {
				l.errorf(q, pipelines.CodeInvalidValue, "%v", err)
				ok = false
				continue
			}
			if slices.ContainsFunc(s.Components, func(x component.Component) bool { return x.SKU == sku }) {
				l.errorf(name, pipelines.CodeDuplicateName, "component %s is listed twice", sku)
				ok = false
				continue
			}
			s.Components = append(s.Components, c)
		}
		if comps.Kind != yaml.SequenceNode {
			ok = false
		}
	}
	return s, ok
}

func (l *seedLoader) rng(n *yaml.Node) diag.Range {
	w := 1
	if n.Kind == yaml.ScalarNode && !strings.Contains(n.Value, "\n") {
		w = utf8.RuneCountInString(n.Value)
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			w += 2
		}
	}
	return diag.At(diag.Pos{File: l.path, Line: n.Line, Col: n.Column}, w)
}

func (l *seedLoader) errorf(n *yaml.Node, code, format string, args ...any) *diag.Diagnostic {
	return l.ds.Errorf(l.rng(n), code, format, args...)
}

func nodeName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

func (l *seedLoader) mapping(n *yaml.Node, what string) bool {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, pipelines.CodeWrongType, "%s must be a mapping, not %s", what, nodeName(n))
		return false
	}
	return true
}

func (l *seedLoader) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, pipelines.CodeWrongType, "%s must be a list, not %s", what, nodeName(n))
		return nil
	}
	return n.Content
}

// pairs calls f for each key of a mapping that is one of known, reporting
// unknown keys (with a suggestion) and keys given twice.
func (l *seedLoader) pairs(n *yaml.Node, where string, known []string, f func(k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) || k.Kind != yaml.ScalarNode {
			d := l.errorf(k, pipelines.CodeUnknownKey, "unknown key %q in %s", k.Value, where)
			if s := suggest(k.Value, known); s != "" {
				d.Hint = fmt.Sprintf("did you mean %q?", s)
			} else {
				d.Hint = "known keys: " + strings.Join(known, ", ")
			}
			continue
		}
		if seen[k.Value] {
			l.errorf(k, pipelines.CodeDuplicateKey, "%s is given twice in %s", k.Value, where)
			continue
		}
		seen[k.Value] = true
		f(k, v)
	}
}

func (l *seedLoader) scalar(n *yaml.Node, what, want string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.errorf(n, pipelines.CodeWrongType, "%s must be %s, not %s", what, want, nodeName(n))
		return false
	}
	return true
}

func (l *seedLoader) str(n *yaml.Node, what string) (string, bool) {
	if !l.scalar(n, what, "a string") {
		return "", false
	}
	return n.Value, true
}

// name reads an id or SKU: a string that is not empty and has no spaces
// around it, which would make it a different id from the one orders use.
func (l *seedLoader) name(n *yaml.Node, what string) (string, bool) {
	s, ok := l.str(n, what)
	if ok && (s == "" || strings.TrimSpace(s) != s) {
		l.errorf(n, pipelines.CodeInvalidValue, "%s %q is empty or has spaces around it", what, s)
		return "", false
	}
	return s, ok
}

func (l *seedLoader) integer(n *yaml.Node, what string) (int, bool) {
	if !l.scalar(n, what, "an integer") {
		return 0, false
	}
	p, err := parsePriority(n.Value)
	if err != nil || n.ShortTag() != "!!int" {
		l.errorf(n, pipelines.CodeWrongType, "%s must be an integer, not %s", what, nodeName(n))
		return 0, false
	}
	return p, true
}

func (l *seedLoader) boolean(n *yaml.Node, what string) (bool, bool) {
	if !l.scalar(n, what, "true or false") {
		return false, false
	}
	if n.ShortTag() != "!!bool" {
		l.errorf(n, pipelines.CodeWrongType, "%s must be true or false, not %s", what, nodeName(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		l.errorf(n, pipelines.CodeWrongType, "%s must be true or false, not %s", what, nodeName(n))
		return false, false
	}
	return b, true
}

func (l *seedLoader) degrees(n *yaml.Node, what string, limit float64) (float64, bool) {
	if !l.scalar(n, what, "a number") {
		return 0, false
	}
	if tag := n.ShortTag(); tag != "!!int" && tag != "!!float" {
		l.errorf(n, pipelines.CodeWrongType, "%s must be a number of degrees, not %s", what, nodeName(n))
		return 0, false
	}
	d, err := parseDegrees(n.Value, limit)
	if err != nil {
		l.errorf(n, pipelines.CodeInvalidValue, "%s %s: %v", what, n.Value, err)
		return 0, false
	}
	return d, true
}
