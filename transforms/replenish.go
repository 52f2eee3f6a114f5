package transforms

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms/allocation"
)

// replenishRequests knows which stock rows have an open replenishment
// request, so a row low on stock raises one request, not one per order
// (DOMAIN.md §2.5). Requests are kept in the store's audit log, as the rule
// "replenishment/<sku>@<location>" whose latest change is "open" or
// "closed", and cached for the run. allocate and stock share the rule
// names, so a request allocate opened is closed by the return that
// restocks the row.
type replenishRequests struct {
	step   string
	inv    component.Inventory
	dryRun bool

	mu   sync.Mutex
	open map[allocation.Key]bool // loaded per row on first use
}

func newReplenishRequests(step string, inv component.Inventory, dryRun bool) *replenishRequests {
	return &replenishRequests{step: step, inv: inv, dryRun: dryRun, open: map[allocation.Key]bool{}}
}

// requestKey is how a row's request is named: the SKU compared as
// allocation compares it.
func requestKey(sku, location string) allocation.Key {
	return allocation.Key{SKU: strings.ToLower(strings.TrimSpace(sku)), Location: location}
}

// replenishRule names the audit-log rule that keeps a row's open request.
func replenishRule(k allocation.Key) string { return "replenishment/" + k.SKU + "@" + k.Location }

// isOpen reports whether a replenishment request is open for k, reading
// the audit log on first use.
func (s *replenishRequests) isOpen(ctx context.Context, k allocation.Key) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.open[k]; ok {
		return v, nil
	}
	hist, err := s.inv.RuleHistory(ctx, replenishRule(k))
	if err != nil {
		return false, fmt.Errorf("reading the replenishment requests of %s at %s: %w", k.SKU, k.Location, err)
	}
	v := len(hist) > 0 && hist[len(hist)-1].New == "open"
	s.open[k] = v
	return v, nil
}

// setOpen records that the request of k was opened or closed.
func (s *replenishRequests) setOpen(ctx context.Context, k allocation.Key, open bool, why string) error {
	s.mu.Lock()
	s.open[k] = open
	s.mu.Unlock()
	if s.dryRun {
		return nil
	}
	old, nu := "closed", "open"
	if !open {
		old, nu = nu, old
	}
	return s.inv.RecordRuleChange(ctx, component.RuleChange{
		Rule: replenishRule(k), Actor: "pipectl step " + s.step, Old: old, New: nu, Reason: why,
	})
}
