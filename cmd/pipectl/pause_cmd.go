package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pipectl/pipectl/engine/ops"
)

func runPause(c *cli, args []string) int  { return pauseOrResume(c, args, true) }
func runResume(c *cli, args []string) int { return pauseOrResume(c, args, false) }
func pauseVerb(pause bool) (string, string) {
	if pause {
		return "pause", "paused"
	}
	return "resume", "resumed"
}

// pauseOrResume pauses or resumes a pipeline, or one of its cron
// triggers, in the state store: every serve process on it sees it within
// a second. A paused pipeline still acknowledges and queues its webhooks.
func pauseOrResume(c *cli, args []string, pause bool) int {
	verb, done := pauseVerb(pause)
	doc := `Pause holds a pipeline's runs, or one cron trigger's ticks, in every
pipectl serve on the state store (within a second): webhooks are still
acknowledged and queued, and run once it is resumed. A reason is required
and audited, as on the console.`
	if !pause {
		doc = `Resume lets a paused pipeline, or cron trigger, run again: what queued
meanwhile runs at once. Audited.`
	}
	fs := newFlags(c, verb, "PIPELINE [--trigger T] --reason R", doc,
		"  pipectl "+verb+" shopify-orders-to-wms --reason \"WMS maintenance 14:00-15:00\"\n  pipectl "+verb+" erp-export --trigger nightly --reason \"month-end close\"")
	trigger := fs.String("trigger", "", "a cron trigger of the pipeline, rather than the whole pipeline")
	reason := fs.String("reason", "", "why (required to pause)")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(c.stderr, "pipectl %s: name one pipeline\n", verb)
		return exitUsage
	}
	q, ok := openQueue(c, verb, *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	ctx := context.Background()
	var err error
	if pause {
		err = ops.Pause(ctx, q, nil, pos[0], *trigger, *reason, actor(), time.Now())
	} else {
		err = ops.Resume(ctx, q, nil, pos[0], *trigger, *reason, actor(), time.Now())
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl %s: %v\n", verb, err)
		return exitError
	}
	what := pos[0]
	if *trigger != "" {
		what += " trigger " + *trigger
	}
	fmt.Fprintf(c.stdout, "%s %s\n", what, done)
	return exitOK
}
