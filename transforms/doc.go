// Package transforms holds the step kinds that reshape records: map, filter,
// route, split, group, dedupe, lookup, validate and allocate, and the
// fulfillment rule sets allocate reads.
//
// Each kind lives in its own file with its Spec: settings, named outputs,
// docs, and how its output records are typed, which is what lets the
// compiler check expressions downstream of it.
//
// transforms imports diag, component and exprs. It must not import engine,
// connectors or cmd: what a step needs at run time (the inventory store, a
// clock) reaches it through component.
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
