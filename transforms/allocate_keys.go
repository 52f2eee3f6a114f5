package transforms

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/transforms/allocation"
)

// How `allocate` and `stock` key their events in the store (DOMAIN.md
// §2.6): an event is known by where it came from and what it is.
//
//   - The scope is the pipeline and the source the record came from
//     ("shopify-orders/orders"): two pipelines sharing a store, or two
//     sources of one, never take each other's order 1001 for a replay.
//   - Within the scope the order is known by the step's `key` (default:
//     the order id), which a pipeline taking several shops sets to tell
//     them apart (shop domain and order id). The key is also the order's
//     reference in the store: its ledger entries and explanations, which
//     the `stock` steps of the order read with the same `key`.
//   - The store keeps a fingerprint of what decided the event: the order
//     as the step read it (its id, key, lines and destination; not the
//     payload's other bytes, nor the rules in force, since a webhook
//     delivered again after a rules change is the same order). A replay
//     whose fingerprint differs is another event under a key already
//     used: it is refused with a clear error and the first event's
//     records are not re-emitted.
//   - An event an older pipectl applied under the unscoped key
//     ("allocate:<order id>") is found under it (the legacy key), so an
//     upgrade never allocates an order twice. Such an event has no
//     fingerprint; for an order its stored explanation says which lines
//     it had, and an order whose lines differ is refused the same way.

// eventScope is the scope of a record's events: the pipeline and the
// source it came from.
func eventScope(pipeline string, rec *record.Record) string {
	source := ""
	if rec.Origin != nil {
		source = rec.Origin.Source
	}
	return pipeline + "/" + source
}

// fingerprint hashes length-prefixed parts: 32 hex digits.
func fingerprint(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// orderFingerprint is what decided an order: its id and key, its lines
// (id, SKU compared as allocation compares them, variant, parent, virtual,
// quantity) and its destination.
func orderFingerprint(o allocation.Order) string {
	parts := []string{"allocate/1", o.ID, o.Ref}
	for _, l := range o.Lines {
		parts = append(parts, l.ID, normSKU(l.SKU), l.VariantID, l.ParentLineID, strconv.FormatBool(l.Virtual), l.Qty.String())
	}
	if d := o.Destination; d != nil {
		parts = append(parts, "destination", d.Country, d.Market)
		if d.Coords != nil {
			parts = append(parts, strconv.FormatFloat(d.Coords.Lat, 'g', -1, 64), strconv.FormatFloat(d.Coords.Lng, 'g', -1, 64))
		}
	}
	return fingerprint(parts...)
}

func normSKU(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// sameLegacyOrder reports whether an order allocated by an older pipectl
// (its stored explanation) had the lines of o: ids, SKUs and quantities.
// An explanation it cannot read is taken as the same order, as that
// pipectl would have.
func sameLegacyOrder(o allocation.Order, explanation []byte) bool {
	var x allocation.Explanation
	if len(explanation) == 0 || json.Unmarshal(explanation, &x) != nil {
		return true
	}
	var lines []allocation.LineDecision
	for _, d := range x.Lines {
		if len(d.Rules) == 0 || d.Rules[0] != "kit_component" {
			lines = append(lines, d)
		}
	}
	if len(lines) != len(o.Lines) {
		return false
	}
	for i, l := range o.Lines {
		d := lines[i]
		if d.LineID != l.ID || !d.Qty.Equal(l.Qty) || (l.SKU != "" && normSKU(d.SKU) != normSKU(l.SKU)) {
			return false
		}
	}
	return true
}

// conflict is the error of an event refused as another under a key
// already used: what happened and what to do. subject names the event
// ("order 1001", "cancel c1 of order 1001"), what its kind ("order",
// "event").
func conflict(subject, what, key string) error {
	return fmt.Errorf("%s was applied before under %s with other content (an edited %s, or another shop's with the same id): "+
		"it is not applied again and the first one's records are not re-emitted; send a change as a new %s, "+
		"or tell the shops apart with the step's `key` (%w)", subject, key, what, what, component.ErrConflict)
}
