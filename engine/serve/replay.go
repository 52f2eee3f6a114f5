package serve

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// ReplayAt says where a dead letter is replayed: a failure at a sink, whose
// record the sink received is kept, is delivered to that sink again (its
// upstream effects, an allocation, happened already); any other failure
// runs its source payload through the whole pipeline again. Edits (dlq
// edit) change that same payload.
func ReplayAt(p *Pipeline, dl *state.DeadLetter) (node string, payload []byte, err error) {
	payload = dl.Payload
	if dl.Edited != nil {
		payload = dl.Edited
	}
	if n, ok := p.Plan.Node(dl.Node); ok && n.Section == component.SinkSection && len(dl.Record) > 0 {
		if dl.Edited == nil {
			payload = dl.Record
		}
		return n.Name, payload, nil
	}
	for _, n := range p.Plan.Nodes {
		if n.Section == component.SourceSection && n.Trigger != nil && n.Trigger.Name == dl.Trigger {
			return n.Name, payload, nil
		}
	}
	if n, ok := p.Plan.Node(dl.Node); ok && n.Section == component.SourceSection {
		return n.Name, payload, nil
	}
	return "", nil, fmt.Errorf("dead letter %d: pipeline %q has no source for trigger %q nor a sink %q to replay it at", dl.ID, p.Plan.Name, dl.Trigger, dl.Node)
}

// ReplayResult is what replaying one dead letter did.
type ReplayResult struct {
	ID int64  `json:"id"`
	At string `json:"at"` // the node it was replayed at
	OK bool   `json:"ok"`
	// Failures are the error records the replay produced (node and error).
	Failures []*state.DeadLetter `json:"failures,omitempty"`
	// Would is, in dry runs, what each sink would receive: its records, or
	// the requests an http sink would make.
	Would map[string][]any `json:"would_receive,omitempty"`
}

// Replay runs dead letters again on p, the pipeline's current version, one
// run each. In a dry run nothing outside the process changes (sinks are
// captured, allocate decides without committing) and the store is left as
// it was; otherwise each entry's outcome is recorded: resolved when the
// replay went through, still open with the new attempt when it failed,
// and the action is audited with actor.
func (s *Server) Replay(ctx context.Context, p *Pipeline, dls []*state.DeadLetter, dryRun bool, actor string) ([]ReplayResult, error) {
	var out []ReplayResult
	for _, dl := range dls {
		at, payload, err := ReplayAt(p, dl)
		if err != nil {
			return out, err
		}
		res, err := s.replayOne(ctx, p, dl, at, payload, dryRun)
		if err != nil {
			return out, err
		}
		out = append(out, res)
		if dryRun {
			continue
		}
		now := s.cfg.Clock.Now()
		a := &state.Attempt{At: now}
		status, reason := state.DeadResolved, "replayed on version "+p.Version
		if !res.OK {
			status, reason = state.DeadOpen, ""
			a.Error, a.Status = res.Failures[0].Error, res.Failures[0].Attempts[0].Status
		}
		if err := s.cfg.Queue.MarkDeadLetter(ctx, dl.ID, status, a, reason); err != nil {
			return out, err
		}
		detail, _ := json.Marshal(map[string]any{"ok": res.OK, "at": at, "version": p.Version, "error": a.Error})
		if err := s.cfg.Queue.AddAudit(ctx, &state.AuditEntry{At: now, Actor: actor, Action: "dlq.replay",
			Subject: fmt.Sprintf("dlq/%d", dl.ID), Detail: detail}); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Server) replayOne(ctx context.Context, p *Pipeline, dl *state.DeadLetter, at string, payload []byte, dryRun bool) (ReplayResult, error) {
	res := ReplayResult{ID: dl.ID, At: at}
	if !json.Valid(payload) {
		res.Failures = []*state.DeadLetter{{Node: at, Error: "the payload is not JSON", Attempts: []state.Attempt{{Error: "the payload is not JSON"}}}}
		return res, nil
	}
	rt := s.runtime(p)
	// A replay is watched by the operator who typed it: the sink retries
	// within the run, as `pipectl run` does, rather than later.
	rt.RetryLater = false
	org := &record.Origin{Source: at, Seq: dl.Delivery, Raw: dl.Payload}
	rec := record.New(append([]byte(nil), payload...), org)
	rec.Unchecked = true
	sp := &served{Pipeline: p}
	now := s.cfg.Clock.Now()
	r, err := engine.Run(ctx, p.Plan, engine.Options{Runtime: rt, DryRun: dryRun, RulesVersion: p.RulesVersion,
		Inputs: []engine.Input{{Node: at, Record: rec}},
		Unhandled: func(e *record.Record) {
			res.Failures = append(res.Failures, deadLetterOf(sp, now, e))
		}})
	if err != nil {
		return res, fmt.Errorf("replaying dead letter %d: %w", dl.ID, err)
	}
	res.OK = len(res.Failures) == 0 && (dryRun || r.Committed)
	if dryRun {
		res.Would = map[string][]any{}
		for name, c := range r.Captured {
			for i, cr := range c.Records {
				if i < len(c.Descriptions) && c.Descriptions[i] != nil {
					res.Would[name] = append(res.Would[name], c.Descriptions[i])
				} else {
					res.Would[name] = append(res.Would[name], json.RawMessage(append([]byte(nil), cr.Raw...)))
				}
			}
		}
	}
	return res, nil
}

// CheckPayload runs an edited payload through p as a dry run and reports
// what would fail at the node it is replayed at: a payload that does not
// fit its source's schema is refused before it is saved.
func (s *Server) CheckPayload(ctx context.Context, p *Pipeline, dl *state.DeadLetter, payload []byte) error {
	edited := *dl
	edited.Edited = payload
	at, _, err := ReplayAt(p, &edited)
	if err != nil {
		return err
	}
	res, err := s.replayOne(ctx, p, &edited, at, payload, true)
	if err != nil {
		return err
	}
	for _, f := range res.Failures {
		if f.Node == at {
			return fmt.Errorf("%s refuses the payload: %s", at, f.Error)
		}
	}
	return nil
}
