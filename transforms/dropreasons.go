package transforms

import (
	"fmt"
	"strings"

	"github.com/pipectl/pipectl/pipelines/record"
)

// The reasons steps give for the records they drop (component.DropReasoner),
// which traced dry runs print beside each record. They are worked out again
// from the record when asked, so runs that do not trace pay nothing.

// DropReason names the condition that was not true.
func (w *filterWorker) DropReason(rec *record.Record) string {
	v, err := w.step.cond.Run(&w.vm, rec.Fields(w.step.decode))
	if err != nil {
		return fmt.Sprintf("filter %s: %v", w.step.name, err)
	}
	return fmt.Sprintf("filter %s: `%s` is %v", w.step.name, w.step.cond.Source(), shownValue(v))
}

// DropReason names the key that was seen before.
func (w *dedupeWorker) DropReason(rec *record.Record) string {
	if err := w.keyOf(rec); err != nil {
		return fmt.Sprintf("dedupe %s: %v", w.step.name, err)
	}
	return fmt.Sprintf("dedupe %s: key %s (`%s`) was seen before", w.step.name, w.kbuf, w.step.key.Source())
}

// DropReason names the key the state store already holds.
func (w *storedDedupeWorker) DropReason(rec *record.Record) string {
	var err error
	w.kbuf, err = appendKey(w.kbuf[:0], w.step.key, &w.vm, rec.Fields(w.step.decode))
	if err != nil {
		return fmt.Sprintf("dedupe %s: %v", w.step.name, err)
	}
	return fmt.Sprintf("dedupe %s: key %s (`%s`) is already in the state store, scope %s", w.step.name, w.kbuf, w.step.key.Source(), w.step.scope)
}

func shownValue(v any) string {
	if v == nil {
		return "null"
	}
	b, err := record.AppendJSON(nil, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// DropReason says which conditions held, or that none did, for a record
// whose outputs no node reads.
func (w *routeWorker) DropReason(rec *record.Record) string {
	env := rec.Fields(w.step.decode)
	var matched, tried []string
	for _, r := range w.step.routes {
		ok, err := evalBool(r.cond, &w.vm, env)
		if err != nil {
			return fmt.Sprintf("route %s: %s: %v", w.step.name, r.name, err)
		}
		if ok {
			matched = append(matched, r.name)
			if !w.step.all {
				break
			}
		}
		tried = append(tried, fmt.Sprintf("%s: `%s`", r.name, r.cond.Source()))
	}
	if len(matched) == 0 {
		return fmt.Sprintf("route %s: no condition held (%s), and no node reads its output unmatched", w.step.name, strings.Join(tried, "; "))
	}
	return fmt.Sprintf("route %s: it took %s, which no node reads", w.step.name, strings.Join(matched, ", "))
}
