// Package transforms holds the step kinds that reshape records: map, filter,
// route, split, group, dedupe, lookup, validate and allocate, and the
// fulfillment rule sets allocate reads.
//
// Each kind lives in its own file with its Spec: settings, named outputs,
// docs, how its output records are typed (which is what lets the compiler
// check expressions downstream of it), and its run-time part: NewStep builds
// a Step once per run, and each engine worker asks it for a StepWorker with
// an expression VM of its own.
//
// Choices every kind here follows:
//
//   - A record that fails (an expression error, a value of the wrong type at
//     run time, a key that is null, a miss declared an error) leaves through
//     the error output, built with component.ErrorRecord; nothing is
//     emitted for it on other outputs, and nothing is dropped silently.
//   - Output keeps input bytes: pass-through kinds emit the record itself;
//     split, lookup and map's $keep copy the JSON text of the parts they
//     carry (gjson results over the record's bytes) instead of re-encoding
//     decoded values, so key order, decimal digits and 64-bit ids survive.
//     Computed values are appended with record.AppendJSON.
//   - Keys that identify (group, dedupe) are the key's canonical JSON text,
//     so 1 and "1" differ and objects compare whatever their key order;
//     lookup keys compare as text, because CSV tables hold only text.
//   - Time comes from the injected Runtime.Clock (ttl, max_wait), never the
//     wall clock directly, so tests and dry runs are deterministic. State
//     (group, dedupe) lives in the StepWorker; those kinds are Stateful, so
//     the engine runs them on one goroutine, in record order.
//   - Files (lookup tables, schema files) are read when the step is built,
//     relative to Runtime.Dir; what can be checked without I/O is checked in
//     the spec's Validate, when the file is loaded.
//
// transforms imports diag, component, exprs, record and schemas (the
// embedded payload schemas validate names). It must not import engine,
// connectors, cmd or the compiler package pipelines: what a step needs at
// run time (the inventory store, a clock) reaches it through component.
package transforms

import "github.com/pipectl/pipectl/pipelines/component"

// Register adds every transform kind to r.
func Register(r *component.Registry) {
	for _, s := range []*component.Spec{
		mapSpec, filterSpec, routeSpec, splitSpec, groupSpec, dedupeSpec, lookupSpec, validateSpec, allocateSpec,
		fulfillmentRuleSpec,
	} {
		r.Add(s)
	}
}
