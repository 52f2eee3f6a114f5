// Package exprs compiles and type-checks pipectl's expressions: the field
// mappings, filters, route conditions, rule conditions and keys written in a
// pipeline file, in the expr-lang/expr language.
//
// Expressions compile once, at load. Their environment is the record arriving
// at the node, typed from the source's JSON Schema and from the mappings
// upstream, so a field the record does not have or an operation its type does
// not support is reported before anything runs, with a did-you-mean hint.
// Every mistake in an expression is reported, each once: a part already
// reported (an unknown field or function, an operation that does not type)
// is of unknown type for the rest of the check. A field the schema allows
// to be null is checked as its type; at run time null compares as null,
// `??` replaces it, and an operation that cannot take it fails with the
// field and its value named (runerror.go), never in Go's terms. A source's
// records are held to their schema, as far as the pipeline reads them, by
// Conformance.
//
// The function library (strings, exact decimal money, dates with time
// zones, collections, lookups, deterministic ids, SKU and GTIN hygiene) is
// declared with specs whose examples run as tests; arguments written as
// literals (a time layout, a zone) are checked when the expression
// compiles. now() reads an injected clock.
//
// exprs imports diag and component; it must not import the compiler in
// pipelines, transforms, connectors or engine.
package exprs
