package ops

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
)

// Pause pauses a pipeline (trigger "") or one of its cron triggers, with
// a reason, audited. A paused pipeline still acknowledges and queues its
// webhooks; it runs nothing until resumed. A paused cron trigger skips
// its ticks.
func Pause(ctx context.Context, q state.Queue, srv *serve.Server, pipeline, trigger, reason, actor string, now time.Time) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("pausing %s: a reason is required", subjectOf(pipeline, trigger))
	}
	if err := q.SetPause(ctx, &state.Pause{Pipeline: pipeline, Trigger: trigger, At: now, By: actor, Reason: reason}); err != nil {
		return err
	}
	if srv != nil {
		srv.PausesChanged()
	}
	return q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: actor, Action: "pause", Subject: subjectOf(pipeline, trigger), Reason: reason})
}

// Resume undoes Pause; resuming what is not paused is not an error.
func Resume(ctx context.Context, q state.Queue, srv *serve.Server, pipeline, trigger, reason, actor string, now time.Time) error {
	was, err := q.ClearPause(ctx, pipeline, trigger)
	if err != nil {
		return err
	}
	if srv != nil {
		srv.PausesChanged()
	}
	if !was {
		return nil
	}
	return q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: actor, Action: "resume", Subject: subjectOf(pipeline, trigger), Reason: reason})
}

func subjectOf(pipeline, trigger string) string {
	if trigger == "" {
		return pipeline
	}
	return pipeline + "/" + trigger
}
