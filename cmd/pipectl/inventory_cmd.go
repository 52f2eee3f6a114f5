package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// `pipectl inventory` is how operators configure what allocation reads from
// the state store besides stock: the locations (priority, market,
// coordinates, pickup, disabled) and the SKU settings (tracked, fractional
// quantities, kits), and how they look at stock rows. Choices made here:
//
//   - Every change goes through the store's SetLocation and SetSKU, which
//     record it in the audit log in the same transaction, so a location
//     changed here shows in `pipectl rules history` as location/ID, with
//     who and why, like a rule setting.
//   - `set` changes only the keys it names; the others keep their values,
//     so fixing a priority cannot clear a location's coordinates by
//     accident. `load` is declarative instead: each location or SKU in the
//     file becomes exactly what the file says.
//   - A change that would leave things as they are is neither applied nor
//     recorded, so running the same `set` or `load` twice adds nothing to
//     the audit log.
//   - Reading commands never create a store: against a store that does not
//     exist they say so, since an empty listing would hide a mistyped
//     --state or a command run in the wrong directory.
//   - Values on the command line that do not parse are usage mistakes
//     (exit 2), found before the store is opened.
//   - Stock rows are the feeds' (the inventory sink), but ops set them by
//     hand too: seeding a warehouse, a pilot or a test, or fixing a count.
//     `level set` sets on hand or safety stock through the store's
//     SetLevel, which writes the ledger entry and, for a change made by
//     hand, the audit log entry (level/SKU@LOCATION) in one transaction;
//     setting what the row already holds changes and records nothing.

const inventoryUsage = `Usage: pipectl inventory <command> [flags] [arguments]

Inventory reads and changes what the state store knows about stock: the
locations orders are allocated from, the settings of SKUs, and the stock
rows. Changes to locations and SKU settings are recorded in the audit log
(see 'pipectl rules history location/ID').

Commands:
  locations       list the locations, by priority
  location set    create or change a location; audited
  skus            show SKU settings
  sku set         create or change a SKU's settings; audited
  levels          show stock rows: on hand, committed, reserved, available
  level set       set a stock row's on hand or safety stock; audited
  load            apply a YAML seed file of locations, SKU settings and stock; audited

Examples:
  pipectl inventory location set wh-east name="East DC" priority=1 market=US --reason "new DC"
  pipectl inventory sku set KIT-1 components=BOLT:4,NUT:4 --reason "kit launch"
  pipectl inventory level set SKU-1 wh-east on_hand=40 --reason "cycle count"
  pipectl inventory load inventory.yaml
  pipectl inventory levels SKU-1 SKU-2

Run 'pipectl inventory <command> --help' for a command's flags.
`

func runInventory(c *cli, args []string) int {
	if len(args) == 0 {
		io.WriteString(c.stderr, inventoryUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		io.WriteString(c.stdout, inventoryUsage)
		return exitOK
	}
	cmds := []string{"locations", "location", "skus", "sku", "levels", "level", "load"}
	switch args[0] {
	case "locations":
		return runInventoryLocations(c, args[1:])
	case "location":
		return runInventorySet(c, "location", args[1:], runInventoryLocationSet)
	case "skus":
		return runInventorySKUs(c, args[1:])
	case "sku":
		return runInventorySet(c, "sku", args[1:], runInventorySKUSet)
	case "levels":
		return runInventoryLevels(c, args[1:])
	case "level":
		return runInventorySet(c, "level", args[1:], runInventoryLevelSet)
	case "load":
		return runInventoryLoad(c, args[1:])
	}
	fmt.Fprintf(c.stderr, "pipectl inventory: unknown command %q\n", args[0])
	if s := suggest(args[0], cmds); s != "" {
		fmt.Fprintf(c.stderr, "did you mean %q?\n", s)
	}
	fmt.Fprintln(c.stderr, "run 'pipectl inventory --help' for the list of commands")
	return exitUsage
}

// runInventorySet dispatches `location set` and `sku set`. The extra word
// leaves room for other verbs on one location or SKU without renaming
// anything.
func runInventorySet(c *cli, what string, args []string, set func(*cli, []string) int) int {
	if len(args) > 0 && args[0] == "set" {
		return set(c, args[1:])
	}
	if len(args) > 0 && isHelp(args[0]) {
		return set(c, []string{"--help"})
	}
	if len(args) == 0 {
		fmt.Fprintf(c.stderr, "pipectl inventory %s: say what to do: 'pipectl inventory %s set ...'\n", what, what)
	} else {
		fmt.Fprintf(c.stderr, "pipectl inventory %s: unknown command %q; the command is 'pipectl inventory %s set ...'\n", what, args[0], what)
	}
	return exitUsage
}

// openInventoryForReading opens a store to read without creating one. The
// default store gets its own message: it is the case of an operator who
// has not run anything in this directory yet.
func openInventoryForReading(ctx context.Context, url string) (state.Store, error) {
	if url == "" {
		path := filepath.Join(state.DefaultDir, "state.db")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no state in ./%s yet: set a location, load a seed file or run a pipeline here first, or pass --state URL", state.DefaultDir)
		}
	}
	return openExistingStore(ctx, url)
}

// openInventoryForWriting opens, and creates if need be, the store changes
// go to.
func openInventoryForWriting(ctx context.Context, url string) (state.Store, error) {
	st, err := state.Open(ctx, url, state.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening state: %w", err)
	}
	return st, nil
}

func checkFormat(c *cli, cmd, format string) bool {
	if format != "text" && format != "json" {
		fmt.Fprintf(c.stderr, "pipectl %s: --format %q: want text or json\n", cmd, format)
		return false
	}
	return true
}

// checkAudit validates --reason and --actor of a change.
func checkAudit(c *cli, cmd, reason, actor string, reasonRequired bool) bool {
	if reasonRequired && strings.TrimSpace(reason) == "" {
		fmt.Fprintf(c.stderr, "pipectl %s: --reason is required: say why, for the audit log\n", cmd)
		return false
	}
	if strings.TrimSpace(actor) == "" {
		fmt.Fprintf(c.stderr, "pipectl %s: --actor must not be empty\n", cmd)
		return false
	}
	return true
}

// listing is a read-only inventory command: `locations`, `skus` and
// `levels` differ only in their help and in what they print.
type listing struct {
	cmd, usage, doc, examples string
	// takesNames says whether SKU names may follow the command.
	takesNames bool
	// print writes the listing; an error is the store's and ends the
	// command with exitError.
	print func(ctx context.Context, store state.Store, names []string, asJSON bool) (int, error)
}

// runListing parses a listing's flags, opens the store without creating
// one and prints.
func runListing(c *cli, args []string, l listing) int {
	fs := newFlags(c, l.cmd, l.usage, l.doc, l.examples)
	stateURL := fs.String("state", "", stateFlagDoc)
	format := fs.String("format", "text", "output format: text or json")
	names, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(names) > 0 && !l.takesNames {
		fmt.Fprintf(c.stderr, "pipectl %s: takes no arguments; 'pipectl %s --help' for usage\n", l.cmd, l.cmd)
		return exitUsage
	}
	if !checkFormat(c, l.cmd, *format) {
		return exitUsage
	}
	ctx := context.Background()
	store, err := openInventoryForReading(ctx, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", l.cmd, err)
		return exitError
	}
	defer store.Close()
	code, err = l.print(ctx, store, names, *format == "json")
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", l.cmd, err)
		return exitError
	}
	return code
}

// --- locations ---

func runInventoryLocations(c *cli, args []string) int {
	return runListing(c, args, listing{
		cmd:   "inventory locations",
		usage: "[--state URL] [--format text|json]",
		doc: `
Locations lists the locations of the state store in the order allocation
ranks them when no rule says otherwise: by priority (lower first), then id.
Disabled locations keep their stock but are not allocated from.`,
		examples: `  pipectl inventory locations
  pipectl inventory locations --state postgres://pipectl@db/pipectl --format json`,
		print: func(ctx context.Context, store state.Store, _ []string, asJSON bool) (int, error) {
			locs, err := store.Locations(ctx)
			if err != nil {
				return exitError, err
			}
			if asJSON {
				if locs == nil {
					locs = []component.Location{}
				}
				return writeJSON(c, "inventory locations", locs), nil
			}
			if len(locs) == 0 {
				fmt.Fprintln(c.stdout, "no locations configured (allocation uses every location with stock)")
				return exitOK, nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPRIORITY\tMARKET\tCOORDS\tPICKUP\tDISABLED")
			for _, l := range locs {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%t\t%t\n", l.ID, orDash(l.Name), l.Priority, orDash(l.Market), coordsText(l.Coords), l.Pickup, l.Disabled)
			}
			return exitOK, tw.Flush()
		},
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func coordsText(c *component.LatLng) string {
	if c == nil {
		return "-"
	}
	return strconv.FormatFloat(c.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(c.Lng, 'f', -1, 64)
}

func writeJSON(c *cli, cmd string, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	c.stdout.Write(append(b, '\n'))
	return exitOK
}

var locationKeys = []string{"name", "priority", "market", "lat", "lng", "pickup", "disabled"}

func runInventoryLocationSet(c *cli, args []string) int {
	const cmd = "inventory location set"
	fs := newFlags(c, cmd, "ID key=value... --reason TEXT [--actor NAME] [--state URL]", `
Set creates location ID or changes it. Keys:

  name       a label for people
  priority   an integer; lower goes first when no rule ranks locations
  market     the market it serves, e.g. US
  lat, lng   coordinates in degrees, given together; both empty clears them
  pickup     true if it offers click-and-collect
  disabled   true to stop allocating from it (its stock is kept)

Keys not given keep their current values; a new location starts at
priority 0 with no coordinates. A value that does not parse is an error
naming the key, and nothing changes. The change is recorded in the audit
log as location/ID with --actor and --reason; a change to what the location
already is records nothing. Note that once any location is configured,
allocation uses only configured locations.`, `  pipectl inventory location set wh-east name="East DC" priority=1 market=US lat=40.71 lng=-74.01 --reason "new DC"
  pipectl inventory location set wh-west disabled=true --reason "flooded" --actor alice
  pipectl inventory location set wh-east lat= lng= --reason "coordinates were wrong"`)
	return runSet(c, cmd, fs, args, setCommand[component.Location]{
		what: "location", idName: "location ID", example: "wh-east priority=1", keys: locationKeys,
		edit: func(_ string, values map[string]string) (func(*component.Location), error) {
			return locationEdit(values)
		},
		current: func(ctx context.Context, store state.Store, id string) (*component.Location, component.Location, error) {
			locs, err := store.Locations(ctx)
			if err != nil {
				return nil, component.Location{}, err
			}
			if i := slices.IndexFunc(locs, func(l component.Location) bool { return l.ID == id }); i >= 0 {
				return &locs[i], locs[i], nil
			}
			return nil, component.Location{ID: id}, nil
		},
		diff: locationDiff,
		save: func(ctx context.Context, store state.Store, l component.Location, by component.Change) error {
			return store.SetLocation(ctx, l, by)
		},
	})
}

// setCommand is what `inventory location set` and `inventory sku set`
// differ in; runSet is the rest, the same for both.
type setCommand[T any] struct {
	what    string // "location", "SKU": how messages name it
	idName  string // "location ID", "SKU": what the first argument is
	example string // arguments of a usage example
	keys    []string
	// edit checks the key=value arguments and returns the change they make.
	edit func(id string, values map[string]string) (func(*T), error)
	// current returns the stored settings (nil when none) and a copy to
	// edit: the stored ones, or the defaults of a new one.
	current func(ctx context.Context, store state.Store, id string) (old *T, edited T, err error)
	diff    func(old *T, v T) []fieldChange
	save    func(ctx context.Context, store state.Store, v T, by component.Change) error
}

// runSet parses `ID key=value... --reason --actor --state`, checks every
// value before opening the store, and saves the change with its audit
// entry, unless it changes nothing.
func runSet[T any](c *cli, cmd string, fs *flag.FlagSet, args []string, sc setCommand[T]) int {
	reason := fs.String("reason", "", "why the change is made, for the audit log (required)")
	actor := fs.String("actor", defaultActor(), "who makes the change, for the audit log")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) < 2 || strings.Contains(pos[0], "=") {
		fmt.Fprintf(c.stderr, "pipectl %s: name a %s and at least one key=value, e.g. %s\n", cmd, sc.idName, sc.example)
		return exitUsage
	}
	id := pos[0]
	if strings.TrimSpace(id) != id || id == "" {
		fmt.Fprintf(c.stderr, "pipectl %s: %s %q has leading or trailing spaces\n", cmd, sc.idName, id)
		return exitUsage
	}
	values, ok := parseAssignments(c, cmd, pos[1:], sc.keys)
	if !ok {
		return exitUsage
	}
	edit, err := sc.edit(id, values)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitUsage
	}
	if !checkAudit(c, cmd, *reason, *actor, true) {
		return exitUsage
	}

	ctx := context.Background()
	store, err := openInventoryForWriting(ctx, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	defer store.Close()
	old, v, err := sc.current(ctx, store, id)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	edit(&v)
	changes := sc.diff(old, v)
	if old != nil && len(changes) == 0 {
		fmt.Fprintf(c.stdout, "%s %s is unchanged\n", sc.what, id)
		return exitOK
	}
	if err := sc.save(ctx, store, v, component.Change{Actor: *actor, Reason: *reason}); err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	printChanges(c, sc.what, id, old == nil, changes)
	fmt.Fprintln(c.stdout, "recorded 1 change in the audit log")
	return exitOK
}

// parseAssignments splits key=value arguments, refusing unknown keys and
// keys given twice.
func parseAssignments(c *cli, cmd string, args, known []string) (map[string]string, bool) {
	values := map[string]string{}
	for _, a := range args {
		k, v, found := strings.Cut(a, "=")
		if !found {
			fmt.Fprintf(c.stderr, "pipectl %s: %q is not key=value; keys: %s\n", cmd, a, strings.Join(known, ", "))
			return nil, false
		}
		if !slices.Contains(known, k) {
			fmt.Fprintf(c.stderr, "pipectl %s: unknown key %q\n", cmd, k)
			if s := suggest(k, known); s != "" {
				fmt.Fprintf(c.stderr, "did you mean %q?\n", s)
			} else {
				fmt.Fprintf(c.stderr, "keys: %s\n", strings.Join(known, ", "))
			}
			return nil, false
		}
		if _, dup := values[k]; dup {
			fmt.Fprintf(c.stderr, "pipectl %s: %s is given twice\n", cmd, k)
			return nil, false
		}
		values[k] = v
	}
	return values, true
}

// locationEdit checks every key=value of a location before anything is
// read or written, and returns the edit they make.
func locationEdit(values map[string]string) (func(*component.Location), error) {
	var edits []func(*component.Location)
	for _, k := range locationKeys {
		v, ok := values[k]
		if !ok {
			continue
		}
		switch k {
		case "name":
			edits = append(edits, func(l *component.Location) { l.Name = v })
		case "market":
			edits = append(edits, func(l *component.Location) { l.Market = v })
		case "priority":
			p, err := parsePriority(v)
			if err != nil {
				return nil, fmt.Errorf("priority=%s: %v", v, err)
			}
			edits = append(edits, func(l *component.Location) { l.Priority = p })
		case "pickup", "disabled":
			b, err := parseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: %v", k, v, err)
			}
			if k == "pickup" {
				edits = append(edits, func(l *component.Location) { l.Pickup = b })
			} else {
				edits = append(edits, func(l *component.Location) { l.Disabled = b })
			}
		}
	}
	lat, hasLat := values["lat"]
	lng, hasLng := values["lng"]
	switch {
	case hasLat != hasLng:
		given, missing := "lat", "lng"
		if hasLng {
			given, missing = "lng", "lat"
		}
		return nil, fmt.Errorf("%s=%s without %s: give lat and lng together (both empty clears the coordinates)", given, values[given], missing)
	case hasLat && lat == "" && lng == "":
		edits = append(edits, func(l *component.Location) { l.Coords = nil })
	case hasLat:
		la, err := parseDegrees(lat, 90)
		if err != nil {
			return nil, fmt.Errorf("lat=%s: %v", lat, err)
		}
		ln, err := parseDegrees(lng, 180)
		if err != nil {
			return nil, fmt.Errorf("lng=%s: %v", lng, err)
		}
		edits = append(edits, func(l *component.Location) { l.Coords = &component.LatLng{Lat: la, Lng: ln} })
	}
	return func(l *component.Location) {
		for _, e := range edits {
			e(l)
		}
	}, nil
}

func parsePriority(s string) (int, error) {
	p, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, errors.New("want an integer, lower goes first")
	}
	return int(p), nil
}

// parseDegrees reads a latitude (limit 90) or longitude (limit 180).
func parseDegrees(s string, limit float64) (float64, error) {
	d, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, fmt.Errorf("want a number of degrees in [-%g, %g]", limit, limit)
	}
	if d < -limit || d > limit {
		return 0, fmt.Errorf("out of range: want degrees in [-%g, %g]", limit, limit)
	}
	return d, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes":
		return true, nil
	case "false", "no":
		return false, nil
	}
	return false, errors.New("want true or false")
}

// fieldChange is one setting of a location or SKU that changes, as text.
type fieldChange struct{ key, old, new string }

func locationFields(l *component.Location) []fieldChange {
	if l == nil {
		return nil
	}
	return []fieldChange{
		{key: "name", new: l.Name},
		{key: "priority", new: strconv.Itoa(l.Priority)},
		{key: "market", new: l.Market},
		{key: "coords", new: strings.TrimPrefix(coordsText(l.Coords), "-")},
		{key: "pickup", new: strconv.FormatBool(l.Pickup)},
		{key: "disabled", new: strconv.FormatBool(l.Disabled)},
	}
}

// locationDiff lists what changes from old (nil: a new location) to loc.
// A new location lists every setting that is not the zero value.
func locationDiff(old *component.Location, loc component.Location) []fieldChange {
	if old == nil {
		old = &component.Location{ID: loc.ID}
	}
	return diffFields(locationFields(old), locationFields(&loc))
}

func diffFields(before, after []fieldChange) []fieldChange {
	var out []fieldChange
	for i, a := range after {
		if before[i].new != a.new {
			out = append(out, fieldChange{key: a.key, old: before[i].new, new: a.new})
		}
	}
	return out
}

// printChanges says what a change did. A new location or SKU with only
// default settings has no field changes but still is created.
func printChanges(c *cli, what, id string, created bool, changes []fieldChange) {
	if created {
		fmt.Fprintf(c.stdout, "%s %s created\n", what, id)
	}
	for _, ch := range changes {
		if created {
			fmt.Fprintf(c.stdout, "  %s: %s\n", ch.key, shownOld(ch.new))
		} else {
			fmt.Fprintf(c.stdout, "%s %s: %s: %s -> %s\n", what, id, ch.key, shownOld(ch.old), shownOld(ch.new))
		}
	}
}

// --- SKUs ---

var skuKeys = []string{"tracked", "qty_decimal", "components"}

func runInventorySKUSet(c *cli, args []string) int {
	const cmd = "inventory sku set"
	fs := newFlags(c, cmd, "SKU key=value... --reason TEXT [--actor NAME] [--state URL]", `
Set creates or changes the inventory settings of a SKU. Keys:

  tracked       false for a SKU that is always available and keeps no stock
                (a gift card, a service)
  qty_decimal   true to allow fractional quantities (sold by weight or length)
  components    makes the SKU a kit: SKU:QTY pairs separated by commas,
                e.g. BOLT:4,NUT:4 (quantities may be decimal, up to 4
                places); empty makes it an ordinary SKU again

Keys not given keep their current values; a SKU nobody configured is
tracked, in whole units, and not a kit. A value that does not parse is an
error naming the key, and nothing changes. The change is recorded in the
audit log as sku/SKU with --actor and --reason; a change to what the SKU
already is records nothing.`, `  pipectl inventory sku set GIFT-CARD tracked=false --reason "gift cards keep no stock"
  pipectl inventory sku set FABRIC-1M qty_decimal=true --reason "sold by the metre"
  pipectl inventory sku set KIT-1 components=BOLT:4,NUT:4,WASHER:0.5 --reason "kit launch"
  pipectl inventory sku set KIT-1 components= --reason "sold loose now"`)
	return runSet(c, cmd, fs, args, setCommand[component.SKU]{
		what: "SKU", idName: "SKU", example: "GIFT-CARD tracked=false", keys: skuKeys,
		edit: skuEdit,
		current: func(ctx context.Context, store state.Store, sku string) (*component.SKU, component.SKU, error) {
			have, err := store.SKUs(ctx, []string{sku})
			if err != nil {
				return nil, component.SKU{}, err
			}
			o, ok := have[sku]
			if !ok {
				return nil, component.DefaultSKU(sku), nil
			}
			s := o
			s.Components = slices.Clone(o.Components)
			return &o, s, nil
		},
		diff: skuDiff,
		save: func(ctx context.Context, store state.Store, s component.SKU, by component.Change) error {
			return store.SetSKU(ctx, s, by)
		},
	})
}

// skuEdit checks every key=value of a SKU's settings and returns the edit
// they make.
func skuEdit(sku string, values map[string]string) (func(*component.SKU), error) {
	var edits []func(*component.SKU)
	for _, k := range skuKeys {
		v, ok := values[k]
		if !ok {
			continue
		}
		switch k {
		case "tracked", "qty_decimal":
			b, err := parseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: %v", k, v, err)
			}
			if k == "tracked" {
				edits = append(edits, func(s *component.SKU) { s.Tracked = b })
			} else {
				edits = append(edits, func(s *component.SKU) { s.QtyDecimal = b })
			}
		case "components":
			comps, err := parseComponents(sku, v)
			if err != nil {
				return nil, fmt.Errorf("components=%s: %v", v, err)
			}
			edits = append(edits, func(s *component.SKU) { s.Components = comps })
		}
	}
	return func(s *component.SKU) {
		for _, e := range edits {
			e(s)
		}
	}, nil
}

// parseComponents reads SKU:QTY,SKU:QTY; empty is no components.
func parseComponents(kit, s string) ([]component.Component, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []component.Component
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		name, qty, found := strings.Cut(part, ":")
		name, qty = strings.TrimSpace(name), strings.TrimSpace(qty)
		if !found || name == "" || qty == "" {
			return nil, fmt.Errorf("%q is not SKU:QTY, e.g. BOLT:4", part)
		}
		c, err := kitComponent(kit, name, qty)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(x component.Component) bool { return x.SKU == name }) {
			return nil, fmt.Errorf("%s is listed twice", name)
		}
		out = append(out, c)
	}
	return out, nil
}

// kitComponent checks one component of kit: a positive quantity with at
// most 4 decimal places, as the store keeps them, and not the kit itself.
func kitComponent(kit, sku, qty string) (component.Component, error) {
	if sku == kit {
		return component.Component{}, fmt.Errorf("%s cannot be a component of itself", sku)
	}
	d, err := decimal.NewFromString(qty)
	if err != nil {
		return component.Component{}, fmt.Errorf("%s: quantity %q is not a number", sku, qty)
	}
	if !d.IsPositive() {
		return component.Component{}, fmt.Errorf("%s: quantity %s is not positive", sku, qty)
	}
	if !d.Equal(d.Truncate(4)) {
		return component.Component{}, fmt.Errorf("%s: quantity %s has more than 4 decimal places", sku, qty)
	}
	// Normalized (4.0 is 4), so the same kit read back compares equal.
	n, _ := decimal.NewFromString(d.String())
	return component.Component{SKU: sku, Quantity: n}, nil
}

func componentsText(cs []component.Component) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.SKU+":"+c.Quantity.String())
	}
	return strings.Join(parts, ",")
}

func skuFields(s *component.SKU) []fieldChange {
	return []fieldChange{
		{key: "tracked", new: strconv.FormatBool(s.Tracked)},
		{key: "qty_decimal", new: strconv.FormatBool(s.QtyDecimal)},
		{key: "components", new: componentsText(s.Components)},
	}
}

// skuDiff lists what changes from old (nil: settings never set, which are
// the defaults) to s.
func skuDiff(old *component.SKU, s component.SKU) []fieldChange {
	before := component.DefaultSKU(s.SKU)
	if old != nil {
		before = *old
	}
	return diffFields(skuFields(&before), skuFields(&s))
}

// skuRow is a SKU's settings as `skus --format json` prints them:
// quantities as JSON numbers, and whether anyone set them.
type skuRow struct {
	SKU        string          `json:"sku"`
	Tracked    bool            `json:"tracked"`
	QtyDecimal bool            `json:"qty_decimal"`
	Components []componentJSON `json:"components,omitempty"`
	Default    bool            `json:"default,omitempty"`
}

type componentJSON struct {
	SKU string      `json:"sku"`
	Qty json.Number `json:"qty"`
}

func runInventorySKUs(c *cli, args []string) int {
	return runListing(c, args, listing{
		cmd:        "inventory skus",
		usage:      "[SKU...] [--state URL] [--format text|json]",
		takesNames: true,
		doc: `
SKUs shows the inventory settings of the SKUs named, or of every SKU that
has settings or stock. A SKU nobody configured shows the defaults (tracked,
whole units, not a kit), marked "default".`,
		examples: `  pipectl inventory skus
  pipectl inventory skus KIT-1 GIFT-CARD --format json`,
		print: func(ctx context.Context, store state.Store, names []string, asJSON bool) (int, error) {
			rows, err := skuRows(ctx, store, names)
			if err != nil {
				return exitError, err
			}
			if asJSON {
				return writeJSON(c, "inventory skus", rows), nil
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.stdout, "no SKU settings or stock recorded")
				return exitOK, nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SKU\tTRACKED\tQTY_DECIMAL\tCOMPONENTS\tSETTINGS")
			for _, r := range rows {
				var comps []string
				for _, k := range r.Components {
					comps = append(comps, k.SKU+":"+string(k.Qty))
				}
				set := "set"
				if r.Default {
					set = "default"
				}
				fmt.Fprintf(tw, "%s\t%t\t%t\t%s\t%s\n", r.SKU, r.Tracked, r.QtyDecimal, orDash(strings.Join(comps, ",")), set)
			}
			return exitOK, tw.Flush()
		},
	})
}

// skuRows are the settings of the SKUs named, or of every known SKU, with
// the defaults for a SKU nobody configured.
func skuRows(ctx context.Context, store state.Store, names []string) ([]skuRow, error) {
	if len(names) == 0 {
		var err error
		if names, err = knownSKUs(ctx, store); err != nil {
			return nil, err
		}
	}
	have, err := store.SKUs(ctx, names)
	if err != nil {
		return nil, err
	}
	rows := []skuRow{}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		s, ok := have[name]
		if !ok {
			s = component.DefaultSKU(name)
		}
		r := skuRow{SKU: name, Tracked: s.Tracked, QtyDecimal: s.QtyDecimal, Default: !ok}
		for _, k := range s.Components {
			r.Components = append(r.Components, componentJSON{SKU: k.SKU, Qty: json.Number(k.Quantity.String())})
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// knownSKUs is every SKU with settings or stock, sorted. The store lists
// SKU settings only by name, so the names come from the stock rows and
// from the audit log, where every SetSKU leaves a sku/NAME entry.
func knownSKUs(ctx context.Context, store state.Store) ([]string, error) {
	levels, err := store.Levels(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range levels {
		names = append(names, l.SKU)
	}
	history, err := store.RuleHistory(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, h := range history {
		if name, ok := strings.CutPrefix(h.Rule, "sku/"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// --- levels ---

// levelRow is one stock row as `levels --format json` prints it.
type levelRow struct {
	SKU         string      `json:"sku"`
	Location    string      `json:"location"`
	OnHand      json.Number `json:"on_hand"`
	Committed   json.Number `json:"committed"`
	Reserved    json.Number `json:"reserved"`
	SafetyStock json.Number `json:"safety_stock"`
	Available   json.Number `json:"available"`
}

func runInventoryLevels(c *cli, args []string) int {
	return runListing(c, args, listing{
		cmd:        "inventory levels",
		usage:      "[SKU...] [--state URL] [--format text|json]",
		takesNames: true,
		doc: `
Levels shows the stock rows of the SKUs named, or every stock row, by SKU
and then location: on hand, committed to orders not yet shipped, reserved
by unexpired reservations, safety stock, and what is available to allocate
(on hand - committed - reserved - safety stock, which may be negative
after a backorder).`,
		examples: `  pipectl inventory levels
  pipectl inventory levels SKU-1 SKU-2 --format json
  pipectl inventory levels --state sqlite:///var/lib/pipectl`,
		print: func(ctx context.Context, store state.Store, names []string, asJSON bool) (int, error) {
			rows, err := levelRows(ctx, store, names)
			if err != nil {
				return exitError, err
			}
			if asJSON {
				return writeJSON(c, "inventory levels", rows), nil
			}
			if len(rows) == 0 {
				if len(names) > 0 {
					fmt.Fprintf(c.stdout, "no stock recorded for %s\n", strings.Join(names, ", "))
				} else {
					fmt.Fprintln(c.stdout, "no stock recorded")
				}
				return exitOK, nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SKU\tLOCATION\tON_HAND\tCOMMITTED\tRESERVED\tSAFETY_STOCK\tAVAILABLE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.SKU, r.Location, r.OnHand, r.Committed, r.Reserved, r.SafetyStock, r.Available)
			}
			if err := tw.Flush(); err != nil {
				return exitError, err
			}
			for _, name := range names {
				if !slices.ContainsFunc(rows, func(r levelRow) bool { return r.SKU == name }) {
					fmt.Fprintf(c.stderr, "no stock recorded for %s\n", name)
				}
			}
			return exitOK, nil
		},
	})
}

// levelRows are the existing stock rows of the SKUs named, or every one,
// by SKU and then location.
func levelRows(ctx context.Context, store state.Store, names []string) ([]levelRow, error) {
	levels, err := store.Levels(ctx, names)
	if err != nil {
		return nil, err
	}
	// Sorted here too, so the order does not rest on each store's query.
	slices.SortStableFunc(levels, func(a, b component.Level) int {
		return strings.Compare(a.SKU+"\x00"+a.Location, b.SKU+"\x00"+b.Location)
	})
	rows := []levelRow{}
	for _, l := range levels {
		if !l.Exists {
			continue
		}
		rows = append(rows, levelRow{
			SKU: l.SKU, Location: l.Location,
			OnHand: qty(l.OnHand), Committed: qty(l.Committed), Reserved: qty(l.Reserved),
			SafetyStock: qty(l.SafetyStock), Available: qty(l.Available()),
		})
	}
	return rows, nil
}

func qty(d decimal.Decimal) json.Number { return json.Number(d.String()) }

// --- level set ---

var levelKeys = []string{"on_hand", "safety_stock"}

func runInventoryLevelSet(c *cli, args []string) int {
	const cmd = "inventory level set"
	fs := newFlags(c, cmd, "SKU LOCATION key=value... --reason TEXT [--actor NAME] [--state URL]", `
Set sets a stock row's quantities, creating the row if need be. Keys:

  on_hand       the physical units at the location (a count); it may be
                negative, as a feed may say
  safety_stock  units kept back, never allocated

A quantity has at most 4 decimal places, and a fraction is refused for a
SKU counted in whole units. Committed and reserved stock are the orders'
and are not set here. Each change is written to the inventory ledger with
--reason and recorded in the audit log as level/SKU@LOCATION with --actor
and --reason, in one transaction; a quantity the row already has changes
and records nothing, so running the same command twice records one change.`, `  pipectl inventory level set SKU-1 wh-east on_hand=40 --reason "cycle count"
  pipectl inventory level set SKU-1 wh-east on_hand=40 safety_stock=2 --reason "pilot" --actor alice
  pipectl inventory level set FABRIC-1M wh-west on_hand=12.5 --reason "recount" --state postgres://pipectl@db/pipectl`)
	reason := fs.String("reason", "", "why the stock is set, for the ledger and the audit log (required)")
	actor := fs.String("actor", defaultActor(), "who sets it, for the audit log")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) < 3 || strings.Contains(pos[0], "=") || strings.Contains(pos[1], "=") {
		fmt.Fprintf(c.stderr, "pipectl %s: name a SKU, a location and at least one key=value, e.g. SKU-1 wh-east on_hand=40\n", cmd)
		return exitUsage
	}
	sku, loc := pos[0], pos[1]
	for _, name := range []struct{ what, v string }{{"SKU", sku}, {"location", loc}} {
		if strings.TrimSpace(name.v) != name.v || name.v == "" {
			fmt.Fprintf(c.stderr, "pipectl %s: %s %q is empty or has spaces around it\n", cmd, name.what, name.v)
			return exitUsage
		}
	}
	values, ok := parseAssignments(c, cmd, pos[2:], levelKeys)
	if !ok {
		return exitUsage
	}
	want := map[string]decimal.Decimal{}
	for _, k := range levelKeys {
		v, given := values[k]
		if !given {
			continue
		}
		d, err := levelQuantity(k, v)
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl %s: %s=%s: %v\n", cmd, k, v, err)
			return exitUsage
		}
		want[k] = d
	}
	if !checkAudit(c, cmd, *reason, *actor, true) {
		return exitUsage
	}

	ctx := context.Background()
	store, err := openInventoryForWriting(ctx, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	defer store.Close()
	old, err := currentLevel(ctx, store, sku, loc)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return exitError
	}
	by := &component.Change{Actor: *actor, Reason: *reason}
	changed := 0
	for _, k := range levelKeys {
		d, given := want[k]
		if !given || (old.Exists && bucketOf(old, k).Equal(d)) {
			continue
		}
		u := component.LevelUpdate{SKU: sku, Location: loc, Bucket: component.Bucket(k), Quantity: d, Reason: *reason, By: by}
		if _, err := store.SetLevel(ctx, u); err != nil {
			fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, unwrap(err))
			if changed > 0 {
				fmt.Fprintf(c.stderr, "pipectl %s: %s made before the failure stay\n", cmd, plural(changed, "change"))
			}
			return exitError
		}
		was := "-"
		if old.Exists {
			was = bucketOf(old, k).String()
		}
		fmt.Fprintf(c.stdout, "level %s@%s: %s: %s -> %s\n", sku, loc, k, was, d)
		changed++
	}
	if changed == 0 {
		fmt.Fprintf(c.stdout, "level %s@%s is unchanged\n", sku, loc)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "recorded %s in the audit log\n", plural(changed, "change"))
	return exitOK
}

// levelQuantity checks a quantity of a stock row's bucket: a number with
// at most 4 decimal places, a safety stock not negative.
func levelQuantity(bucket, s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	switch {
	case err != nil:
		return d, errors.New("want a number")
	case !d.Equal(d.Truncate(4)):
		return d, errors.New("more than 4 decimal places")
	case bucket == "safety_stock" && d.IsNegative():
		return d, errors.New("a safety stock cannot be negative")
	}
	// Normalized (4.0 is 4), as the store gives quantities back.
	n, _ := decimal.NewFromString(d.String())
	return n, nil
}

// currentLevel is the stock row of sku at loc; Exists is false when there
// is none.
func currentLevel(ctx context.Context, store state.Store, sku, loc string) (component.Level, error) {
	levels, err := store.Levels(ctx, []string{sku})
	if err != nil {
		return component.Level{}, err
	}
	for _, l := range levels {
		if l.Location == loc && l.Exists {
			return l, nil
		}
	}
	return component.Level{SKU: sku, Location: loc}, nil
}

func bucketOf(l component.Level, bucket string) decimal.Decimal {
	if bucket == "safety_stock" {
		return l.SafetyStock
	}
	return l.OnHand
}
