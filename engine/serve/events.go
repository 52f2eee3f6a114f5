package serve

import (
	"context"
	"fmt"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/tidwall/gjson"
)

// orderRef is the order a payload is about, for its timeline: the
// payload's id (Shopify's and WooCommerce's order id), "" when it has
// none.
func orderRef(body []byte) string {
	if v := gjson.GetBytes(body, "id"); v.Exists() && (v.Type == gjson.Number || v.Type == gjson.String) {
		return v.String()
	}
	return ""
}

// recordEvents keeps events for the orders' timelines; a failure is
// logged, never the run's.
func (s *Server) recordEvents(ctx context.Context, pipeline string, es []state.OrderEvent) {
	if len(es) == 0 {
		return
	}
	if err := s.cfg.Queue.AddOrderEvents(ctx, es); err != nil {
		s.log.Warn("recording order events", "pipeline", pipeline, "error", err.Error())
	}
}

// deliveryEvents are the timeline of a run of deliveries that committed:
// each received, processed, and what its retries and dead letters were.
func deliveryEvents(p *served, o *outcome, ds []*state.Delivery) []state.OrderEvent {
	refs := map[int64]string{}
	var es []state.OrderEvent
	for _, d := range ds {
		ref := orderRef(d.Body)
		if ref == "" {
			continue
		}
		refs[d.ID] = ref
		detail := "webhook " + d.Trigger
		if d.EventID != "" {
			detail += ", event " + d.EventID
		}
		es = append(es, state.OrderEvent{Ref: ref, At: d.Received, Kind: "received", Detail: detail})
		for _, sp := range o.paths[d.ID] {
			text := sp.text
			if sp.n > 1 {
				text = fmt.Sprintf("%s (%d records)", text, sp.n)
			}
			es = append(es, state.OrderEvent{Ref: ref, At: o.now, Kind: "steps", Detail: text})
		}
		es = append(es, state.OrderEvent{Ref: ref, At: o.clock(), Kind: "processed", Detail: fmt.Sprintf("%s version %s: every sink acknowledged what it was given (a run of %d)", p.Plan.Name, p.Version, len(ds))})
	}
	o.ackMu.Lock()
	for _, a := range o.acks {
		if ref := refs[a.delivery]; ref != "" {
			es = append(es, state.OrderEvent{Ref: ref, At: a.at, Kind: "acknowledged", Detail: a.what})
		}
	}
	o.ackMu.Unlock()
	for _, r := range o.retries {
		if ref := refs[r.Delivery]; ref != "" {
			es = append(es, state.OrderEvent{Ref: ref, At: o.now, Kind: "retry queued", Detail: r.Sink + ": " + r.Attempts[0].Error})
		}
	}
	for _, dl := range o.dead {
		if ref := refs[dl.Delivery]; ref != "" {
			es = append(es, state.OrderEvent{Ref: ref, At: o.now, Kind: "dead letter", Detail: dl.Node + ": " + dl.Error})
		}
	}
	return es
}
