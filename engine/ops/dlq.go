package ops

import (
	"context"
	"fmt"
	"strings"
	"time"

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
