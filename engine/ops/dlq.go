package ops

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine/serve"
	"github.com/pipectl/pipectl/engine/state"
)

// ResolveDeadLetter closes a dead letter without replaying it, with the
// reason it needs, audited.
func ResolveDeadLetter(ctx context.Context, q state.Queue, id int64, reason, actor string, now time.Time) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("resolving dead letter %d: a reason is required", id)
	}
	if _, err := q.DeadLetter(ctx, id); err != nil {
		return err
	}
	if err := q.MarkDeadLetter(ctx, id, state.DeadResolved, nil, reason); err != nil {
		return err
	}
	return q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: actor, Action: "dlq.resolve", Subject: fmt.Sprintf("dlq/%d", id), Reason: reason})
}

// EditDeadLetter saves payload as what replaying the dead letter sends,
// keeping the original: it must be JSON and pass a dry run at the node it
// is replayed at (its source's schema among the checks), or nothing is
// saved. The change is audited with the payload before and after.
func EditDeadLetter(ctx context.Context, srv *serve.Server, p *serve.Pipeline, dl *state.DeadLetter, payload []byte, reason, actor string, now time.Time) error {
	payload = bytes.TrimSpace(payload)
	if !json.Valid(payload) {
		return &InvalidPayload{Why: "the new payload is not JSON"}
	}
	_, current, err := serve.ReplayAt(p, dl)
	if err != nil {
		return err
	}
	if err := srv.CheckPayload(ctx, p, dl, payload); err != nil {
		return &InvalidPayload{Why: err.Error()}
	}
	q := srv.Queue()
	if err := q.EditDeadLetter(ctx, dl.ID, payload); err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]any{"before": json.RawMessage(current), "after": json.RawMessage(payload)})
	return q.AddAudit(ctx, &state.AuditEntry{At: now, Actor: actor, Action: "dlq.edit", Subject: fmt.Sprintf("dlq/%d", dl.ID), Reason: reason, Detail: detail})
}

// InvalidPayload is an edited payload refused, and why; nothing was saved.
type InvalidPayload struct{ Why string }

func (e *InvalidPayload) Error() string { return e.Why + "; nothing saved" }

// ReplayPlan is a bulk replay previewed: the dead letters it covers and a
// hash of exactly that set (ids and when each last changed). Applying it
// with a hash that no longer matches is refused: the set changed since it
// was reviewed.
type ReplayPlan struct {
	IDs    []int64 `json:"ids"`
	Count  int     `json:"count"`
	Sample []int64 `json:"sample"`
	Hash   string  `json:"plan_hash"`
}

// ErrPlanStale is a plan applied after its set changed.
var ErrPlanStale = errors.New("the dead letters matching the filter changed since the preview; preview again")

// PlanReplay previews replaying every open dead letter f selects.
func PlanReplay(ctx context.Context, q state.Queue, f state.DeadLetterFilter) (*ReplayPlan, []*state.DeadLetter, error) {
	f.Status = state.DeadOpen
	dls, err := q.ListDeadLetters(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	slices.SortFunc(dls, func(a, b *state.DeadLetter) int { return cmp.Compare(a.ID, b.ID) })
	h := sha256.New()
	p := &ReplayPlan{Count: len(dls)}
	for _, dl := range dls {
		p.IDs = append(p.IDs, dl.ID)
		fmt.Fprintf(h, "%d@%d;", dl.ID, dl.Updated.UnixMicro())
	}
	p.Sample = p.IDs[:min(5, len(p.IDs))]
	p.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return p, dls, nil
}

// ReplayPlanned replays the set f selects if its hash is still hash, each
// on its pipeline's version in force (one that goes through resolves
// itself), and returns the outcomes.
func ReplayPlanned(ctx context.Context, srv *serve.Server, f state.DeadLetterFilter, hash, actor string) ([]serve.ReplayResult, error) {
	plan, dls, err := PlanReplay(ctx, srv.Queue(), f)
	if err != nil {
		return nil, err
	}
	if plan.Hash != hash {
		return nil, ErrPlanStale
	}
	return Replay(ctx, srv, dls, false, actor)
}

// Replay replays dead letters on their pipelines' versions in force, or
// only shows what each sink would receive (dryRun).
func Replay(ctx context.Context, srv *serve.Server, dls []*state.DeadLetter, dryRun bool, actor string) ([]serve.ReplayResult, error) {
	var out []serve.ReplayResult
	for _, dl := range dls {
		p, ok := srv.Pipeline(dl.Pipeline)
		if !ok {
			return out, fmt.Errorf("dead letter %d is of pipeline %q, which is not served", dl.ID, dl.Pipeline)
		}
		res, err := srv.Replay(ctx, p, []*state.DeadLetter{dl}, dryRun, actor)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}
