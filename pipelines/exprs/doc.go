// Package exprs compiles and type-checks pipectl's expressions: the field
// mappings, filters, route conditions, rule conditions and keys written in a
// pipeline file, in the expr-lang/expr language.
//
// Expressions compile once, at load. Their environment is the record arriving
// at the node, typed from the source's JSON Schema and from the mappings
// upstream, so a field the record does not have or an operation its type does
// not support is reported before anything runs, with a did-you-mean hint. The
// function library (strings, exact decimal money, dates with time zones,
// collections, lookups, deterministic ids, SKU and GTIN hygiene) is declared
// with specs whose examples run as tests. now() reads an injected clock.
//
// exprs imports diag and component; it must not import the compiler in
// pipelines, transforms, connectors or engine.
package exprs
