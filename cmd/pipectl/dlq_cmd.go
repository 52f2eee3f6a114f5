package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
)

// `pipectl dlq` works the dead letters `pipectl serve` keeps. Choices:
//
//   - A dead letter from a sink that kept the record it received is
//     replayed at that sink (what came before it, an allocation, already
//     happened); any other is replayed from its source payload through the
//     whole pipeline (serve.ReplayAt). `dlq edit` edits what the replay
//     sends, and keeps the original.
//   - An edit is checked before it is saved by a dry run of the replay: a
//     payload the source's schema refuses is not saved.
//   - Replays run on the pipeline's current files (--pipelines, default the
//     current directory), not on the version the entry failed on.

const dlqUsage = `Usage: pipectl dlq <list|show|edit|replay|resolve> [flags] [arguments]

Dlq works the dead-letter queue of pipectl serve: records that failed for
good (a step error, a 4xx from a sink, retries exhausted) and that no error
output reads, each with its original payload, headers, node, error and
every attempt.

Commands:
  list      list dead letters, newest first, by --pipeline, --node, --status, --since
  show      print one, with its payload and attempts
  edit      change what a replay sends (--set path=value or --payload FILE); the original is kept
  replay    run entries again on the current pipeline version; --dry-run shows what each sink would receive
  resolve   close an entry without replaying it, with --reason
  history   the audit log of what was done to dead letters (one, or all), newest first

Examples:
  pipectl dlq list --pipeline shopify-orders-to-wms --status open
  pipectl dlq show 42
  pipectl dlq edit 42 --set ship_to.postal_code=10115
  pipectl dlq replay 42 --dry-run
  pipectl dlq replay --all-matching --pipeline shopify-orders-to-wms --node wms
  pipectl dlq resolve 43 --reason "order cancelled by the customer"

Every command takes --state URL (the store serve uses); edit and replay take
--pipelines PATHS (the pipeline files serve runs; default .). Every change
is in the audit log.
`

func runDLQ(c *cli, args []string) int {
	if len(args) == 0 {
		io.WriteString(c.stderr, dlqUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		io.WriteString(c.stdout, dlqUsage)
		return exitOK
	}
	switch args[0] {
	case "list":
		return runDLQList(c, args[1:])
	case "show":
		return runDLQShow(c, args[1:])
	case "edit":
		return runDLQEdit(c, args[1:])
	case "replay":
		return runDLQReplay(c, args[1:])
	case "resolve":
		return runDLQResolve(c, args[1:])
	case "history":
		return runDLQHistory(c, args[1:])
	}
	fmt.Fprintf(c.stderr, "pipectl dlq: unknown command %q%s\n", args[0], suggest(args[0], []string{"list", "show", "edit", "replay", "resolve", "history"}))
	return exitUsage
}

// actor names who did something, for the audit log.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func openQueue(c *cli, cmd, url string) (state.Queue, bool) {
	q, err := state.OpenQueue(context.Background(), url, state.Options{})
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return nil, false
	}
	return q, true
}

func runDLQList(c *cli, args []string) int {
	fs := newFlags(c, "dlq list", "[--pipeline P] [--node N] [--status S] [--since D|TIME] [--limit N] [--json]",
		"List lists dead letters, newest first.", "  pipectl dlq list --status open --since 24h")
	pipeline := fs.String("pipeline", "", "only this pipeline's")
	node := fs.String("node", "", "only those that failed at this node")
	status := fs.String("status", "", "open, replayed or resolved (default all)")
	since := fs.String("since", "", "only those since a duration ago (24h) or an RFC 3339 time")
	limit := fs.Int("limit", 100, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON lines")
	stateURL := fs.String("state", "", stateFlagDoc)
	if _, code, ok := parseFlags(c, fs, args); !ok {
		return code
	}
	f := state.DeadLetterFilter{Pipeline: *pipeline, Node: *node, Status: *status, Limit: *limit}
	if *status != "" && *status != state.DeadOpen && *status != state.DeadReplayed && *status != state.DeadResolved {
		fmt.Fprintf(c.stderr, "pipectl dlq list: --status %q: want open, replayed or resolved\n", *status)
		return exitUsage
	}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl dlq list: --since: %v\n", err)
			return exitUsage
		}
		f.Since = t
	}
	q, ok := openQueue(c, "dlq list", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	dls, err := q.ListDeadLetters(context.Background(), f)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl dlq list: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, dl := range dls {
			enc.Encode(deadLetterJSON(dl))
		}
		return exitOK
	}
	if len(dls) == 0 {
		fmt.Fprintln(c.stdout, "no dead letters")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPIPELINE\tNODE\tATTEMPTS\tCREATED\tERROR")
	for _, dl := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, dl.Status, dl.Pipeline, dl.Node, len(dl.Attempts),
			dl.Created.UTC().Format(time.RFC3339), clipped(dl.Error, 80))
	}
	tw.Flush()
	return exitOK
}

// parseSince reads a duration ago or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor an RFC 3339 time", s)
	}
	return t, nil
}

// clipped is s on one line, cut to at most n bytes.
func clipped(s string, n int) string {
	s = oneLine(s)
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// deadLetterJSON is how a dead letter is printed as JSON: payloads as JSON
// when they are, as strings otherwise.
func deadLetterJSON(dl *state.DeadLetter) map[string]any {
	m := map[string]any{"id": dl.ID, "pipeline": dl.Pipeline, "version": dl.Version, "trigger": dl.Trigger, "node": dl.Node,
		"error": dl.Error, "status": dl.Status, "delivery": dl.Delivery, "attempts": dl.Attempts,
		"created": dl.Created.UTC().Format(time.RFC3339Nano), "updated": dl.Updated.UTC().Format(time.RFC3339Nano)}
	raw := func(b []byte) any {
		if b == nil {
			return nil
		}
		if json.Valid(b) {
			return json.RawMessage(b)
		}
		return string(b)
	}
	m["payload"] = raw(dl.Payload)
	if dl.Edited != nil {
		m["edited"] = raw(dl.Edited)
	}
	if dl.Record != nil {
		m["record"] = raw(dl.Record)
	}
	if dl.Reason != "" {
		m["reason"] = dl.Reason
	}
	if len(dl.Header) > 0 {
		m["header"] = dl.Header
	}
	return m
}

func parseID(c *cli, cmd, s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		fmt.Fprintf(c.stderr, "pipectl %s: %q is not a dead letter ID (see pipectl dlq list)\n", cmd, s)
		return 0, false
	}
	return id, true
}

func getDeadLetter(c *cli, cmd string, q state.Queue, id int64) (*state.DeadLetter, bool) {
	dl, err := q.DeadLetter(context.Background(), id)
	if errors.Is(err, state.ErrNotFound) {
		fmt.Fprintf(c.stderr, "pipectl %s: no dead letter %d\n", cmd, id)
		return nil, false
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return nil, false
	}
	return dl, true
}

func runDLQShow(c *cli, args []string) int {
	fs := newFlags(c, "dlq show", "ID [--state URL]", "Show prints one dead letter as JSON: its payload (and the edited one), headers, node, error and attempts.", "  pipectl dlq show 42")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(c.stderr, "pipectl dlq show: name one dead letter ID")
		return exitUsage
	}
	id, ok := parseID(c, "dlq show", pos[0])
	if !ok {
		return exitUsage
	}
	q, ok := openQueue(c, "dlq show", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	dl, ok := getDeadLetter(c, "dlq show", q, id)
	if !ok {
		return exitError
	}
	b, _ := json.MarshalIndent(deadLetterJSON(dl), "", "  ")
	fmt.Fprintf(c.stdout, "%s\n", b)
	return exitOK
}

// replayServer is a serve.Server that is not serving: the pipelines under
// paths loaded, for replays and edit checks.
func replayServer(c *cli, cmd string, paths []string, q state.Queue, stateURL string) (*serve.Server, map[string]*serve.Pipeline, func(), bool) {
	ps, _, ok := loadServed(c, paths)
	if !ok {
		fmt.Fprintf(c.stderr, "pipectl %s: the pipelines must compile clean to replay on them\n", cmd)
		return nil, nil, nil, false
	}
	byName := map[string]*serve.Pipeline{}
	needState := stateURL != ""
	for _, p := range ps {
		byName[p.Plan.Name] = p
		needState = needState || p.Plan.UsesState()
	}
	cleanup := func() {}
	var inv state.Store
	if needState {
		var err error
		if inv, err = state.Open(context.Background(), stateURL, state.Options{}); err != nil {
			fmt.Fprintf(c.stderr, "pipectl %s: opening state: %v\n", cmd, err)
			return nil, nil, nil, false
		}
		cleanup = func() { inv.Close() }
	}
	srv := serve.New(serve.Config{Queue: q, Inventory: inv, Stdout: c.stdout, LookupEnv: os.LookupEnv})
	if err := srv.Load(ps); err != nil {
		cleanup()
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", cmd, err)
		return nil, nil, nil, false
	}
	return srv, byName, cleanup, true
}

func runDLQEdit(c *cli, args []string) int {
	fs := newFlags(c, "dlq edit", "ID (--set PATH=VALUE ... | --payload FILE) [--pipelines PATHS] [--reason R]",
		`Edit changes what replaying a dead letter sends, keeping the original.
A VALUE that is JSON (10115, true, "x", {"a":1}) is set as such, anything
else as a string. The edited payload is checked by a dry run of the replay
first: one its source's schema refuses is not saved.`,
		"  pipectl dlq edit 42 --set ship_to.postal_code='\"10115\"'\n  pipectl dlq edit 42 --payload fixed.json --reason \"customer corrected the address\"")
	var sets multiFlag
	fs.Var(&sets, "set", "PATH=VALUE to set (repeatable; PATH is dotted, list items by index: lines.0.sku)")
	payloadFile := fs.String("payload", "", "file holding the whole new payload")
	pipelinePaths := fs.String("pipelines", ".", "pipeline files or folders serve runs (comma-separated)")
	reason := fs.String("reason", "", "why, for the audit log")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || (len(sets) == 0) == (*payloadFile == "") {
		fmt.Fprintln(c.stderr, "pipectl dlq edit: name one ID and either --set or --payload")
		return exitUsage
	}
	id, ok := parseID(c, "dlq edit", pos[0])
	if !ok {
		return exitUsage
	}
	q, ok := openQueue(c, "dlq edit", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	dl, ok := getDeadLetter(c, "dlq edit", q, id)
	if !ok {
		return exitError
	}
	srv, byName, cleanup, ok := replayServer(c, "dlq edit", strings.Split(*pipelinePaths, ","), q, *stateURL)
	if !ok {
		return exitError
	}
	defer cleanup()
	p, ok := byName[dl.Pipeline]
	if !ok {
		fmt.Fprintf(c.stderr, "pipectl dlq edit: dead letter %d is of pipeline %q, which is not under %s\n", id, dl.Pipeline, *pipelinePaths)
		return exitError
	}
	_, current, err := serve.ReplayAt(p, dl)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl dlq edit: %v\n", err)
		return exitError
	}
	var payload []byte
	if *payloadFile != "" {
		if payload, err = os.ReadFile(*payloadFile); err != nil {
			fmt.Fprintf(c.stderr, "pipectl dlq edit: %v\n", unwrap(err))
			return exitError
		}
		payload = bytes.TrimSpace(payload)
	} else if payload, err = setPaths(current, sets); err != nil {
		fmt.Fprintf(c.stderr, "pipectl dlq edit: %v\n", err)
		return exitUsage
	}
	if err := ops.EditDeadLetter(context.Background(), srv, p, dl, payload, *reason, actor(), time.Now()); err != nil {
		fmt.Fprintf(c.stderr, "pipectl dlq edit: %v\n", err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "dead letter %d edited; replay it with: pipectl dlq replay %d\n", id, id)
	return exitOK
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// setPaths sets dotted paths in a JSON document.
func setPaths(doc []byte, sets []string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("the payload is not JSON: %v", err)
	}
	for _, s := range sets {
		path, value, ok := strings.Cut(s, "=")
		if !ok || path == "" {
			return nil, fmt.Errorf("--set %q: want PATH=VALUE", s)
		}
		var v any
		vd := json.NewDecoder(strings.NewReader(value))
		vd.UseNumber()
		if err := vd.Decode(&v); err != nil || vd.More() {
			v = value
		}
		var err error
		if root, err = setPath(root, strings.Split(path, "."), v); err != nil {
			return nil, fmt.Errorf("--set %s: %v", path, err)
		}
	}
	return json.Marshal(root)
}

func setPath(node any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	switch n := node.(type) {
	case map[string]any:
		child, err := setPath(n[path[0]], path[1:], v)
		if err != nil {
			return nil, err
		}
		n[path[0]] = child
		return n, nil
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(n) {
			return nil, fmt.Errorf("%q is not an index of a list of %d", path[0], len(n))
		}
		child, err := setPath(n[i], path[1:], v)
		if err != nil {
			return nil, err
		}
		n[i] = child
		return n, nil
	case nil:
		child, err := setPath(nil, path[1:], v)
		if err != nil {
			return nil, err
		}
		return map[string]any{path[0]: child}, nil
	}
	return nil, fmt.Errorf("%q is inside a value that is neither an object nor a list", path[0])
}

func runDLQReplay(c *cli, args []string) int {
	fs := newFlags(c, "dlq replay", "ID... | --all-matching [--pipeline P] [--node N] [--dry-run] [--pipelines PATHS]",
		`Replay runs dead letters again on the current version of their pipeline
(the files under --pipelines). One that goes through is resolved; one that
fails again stays open with the new attempt added. With --dry-run nothing
changes anywhere: the JSON printed shows, per entry, exactly what each sink
would receive (an http sink's requests).`,
		"  pipectl dlq replay 42 --dry-run\n  pipectl dlq replay 42 43\n  pipectl dlq replay --all-matching --pipeline shopify-orders-to-wms --node wms")
	all := fs.Bool("all-matching", false, "replay every open entry matching --pipeline and --node")
	pipeline := fs.String("pipeline", "", "with --all-matching: only this pipeline's")
	node := fs.String("node", "", "with --all-matching: only those that failed at this node")
	dryRun := fs.Bool("dry-run", false, "show what each sink would receive; change nothing")
	pipelinePaths := fs.String("pipelines", ".", "pipeline files or folders serve runs (comma-separated)")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if (len(pos) == 0) != *all {
		fmt.Fprintln(c.stderr, "pipectl dlq replay: name IDs, or --all-matching")
		return exitUsage
	}
	q, ok := openQueue(c, "dlq replay", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	ctx := context.Background()
	var dls []*state.DeadLetter
	if *all {
		var err error
		if dls, err = q.ListDeadLetters(ctx, state.DeadLetterFilter{Pipeline: *pipeline, Node: *node, Status: state.DeadOpen}); err != nil {
			fmt.Fprintf(c.stderr, "pipectl dlq replay: %v\n", err)
			return exitError
		}
	} else {
		for _, s := range pos {
			id, ok := parseID(c, "dlq replay", s)
			if !ok {
				return exitUsage
			}
			dl, ok := getDeadLetter(c, "dlq replay", q, id)
			if !ok {
				return exitError
			}
			dls = append(dls, dl)
		}
	}
	if len(dls) == 0 {
		fmt.Fprintln(c.stdout, "no dead letters to replay")
		return exitOK
	}
	srv, byName, cleanup, ok := replayServer(c, "dlq replay", strings.Split(*pipelinePaths, ","), q, *stateURL)
	if !ok {
		return exitError
	}
	defer cleanup()
	failed := 0
	for _, dl := range dls {
		if _, ok := byName[dl.Pipeline]; !ok {
			fmt.Fprintf(c.stderr, "pipectl dlq replay: dead letter %d is of pipeline %q, which is not under %s\n", dl.ID, dl.Pipeline, *pipelinePaths)
			return exitError
		}
		res, err := ops.Replay(ctx, srv, []*state.DeadLetter{dl}, *dryRun, actor())
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl dlq replay: %v\n", err)
			return exitError
		}
		r := res[0]
		if *dryRun {
			out := map[string]any{"id": r.ID, "at": r.At, "ok": r.OK, "would_receive": r.Would}
			if len(r.Failures) > 0 {
				out["would_fail"] = failuresJSON(r.Failures)
			}
			b, _ := json.MarshalIndent(out, "", "  ")
			fmt.Fprintf(c.stdout, "%s\n", b)
			continue
		}
		if r.OK {
			fmt.Fprintf(c.stdout, "dead letter %d replayed at %s: delivered, resolved\n", r.ID, r.At)
		} else {
			failed++
			fmt.Fprintf(c.stdout, "dead letter %d replayed at %s: failed at %s: %s (still open)\n", r.ID, r.At, r.Failures[0].Node, r.Failures[0].Error)
		}
	}
	if failed > 0 {
		return exitError
	}
	return exitOK
}

func failuresJSON(fs []*state.DeadLetter) []map[string]string {
	var out []map[string]string
	for _, f := range fs {
		out = append(out, map[string]string{"node": f.Node, "error": f.Error})
	}
	return out
}

func runDLQResolve(c *cli, args []string) int {
	fs := newFlags(c, "dlq resolve", "ID... --reason R", "Resolve closes dead letters without replaying them; the reason is required and audited.", "  pipectl dlq resolve 43 --reason \"order cancelled by the customer\"")
	reason := fs.String("reason", "", "why (required)")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 || strings.TrimSpace(*reason) == "" {
		fmt.Fprintln(c.stderr, "pipectl dlq resolve: name IDs and give --reason")
		return exitUsage
	}
	q, ok := openQueue(c, "dlq resolve", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	ctx := context.Background()
	for _, s := range pos {
		id, ok := parseID(c, "dlq resolve", s)
		if !ok {
			return exitUsage
		}
		if _, ok := getDeadLetter(c, "dlq resolve", q, id); !ok {
			return exitError
		}
		if err := ops.ResolveDeadLetter(ctx, q, id, *reason, actor(), time.Now()); err != nil {
			fmt.Fprintf(c.stderr, "pipectl dlq resolve: %v\n", err)
			return exitError
		}
		fmt.Fprintf(c.stdout, "dead letter %d resolved\n", id)
	}
	return exitOK
}

func runDLQHistory(c *cli, args []string) int {
	fs := newFlags(c, "dlq history", "[ID] [--limit N] [--state URL]",
		"History prints the audit log of what operators did to dead letters (edits, replays, resolutions): when, who, what, why, newest first; of one entry when ID is given.",
		"  pipectl dlq history\n  pipectl dlq history 42")
	limit := fs.Int("limit", 50, "at most this many")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	subject := ""
	switch len(pos) {
	case 0:
	case 1:
		id, ok := parseID(c, "dlq history", pos[0])
		if !ok {
			return exitUsage
		}
		subject = fmt.Sprintf("dlq/%d", id)
	default:
		fmt.Fprintln(c.stderr, "pipectl dlq history: name at most one dead letter ID")
		return exitUsage
	}
	q, ok := openQueue(c, "dlq history", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	es, err := q.ListAudit(context.Background(), subject, *limit)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl dlq history: %v\n", err)
		return exitError
	}
	shown := 0
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, e := range es {
		if !strings.HasPrefix(e.Subject, "dlq/") {
			continue
		}
		if shown == 0 {
			fmt.Fprintln(tw, "WHEN\tWHO\tWHAT\tENTRY\tREASON\tDETAIL")
		}
		shown++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, strings.TrimPrefix(e.Subject, "dlq/"),
			clipped(e.Reason, 40), clipped(string(e.Detail), 80))
	}
	tw.Flush()
	if shown == 0 {
		fmt.Fprintln(c.stdout, "nothing done to dead letters yet")
	}
	return exitOK
}
