// Package component is the contract between pipectl's compiler and the node
// kinds it compiles: sources, steps, sinks, triggers and rule sets.
//
// Every kind declares a Spec: its settings (Field) with types, defaults,
// examples and docs, its named outputs, and how its output records are shaped
// (Type). The loader validates files against specs, the JSON Schema and the
// reference documentation are generated from them, and the compiler uses the
// declared Types to check expressions from the first source to the last sink.
//
// Kinds are registered explicitly into a Registry by each package's Register
// function; there is no package-level mutable state.
//
// A kind's constructor reports a setting it cannot use as a SettingError
// carrying the setting's Value, so the error is shown where the setting is
// written; `pipectl validate` builds every step and sink to find them.
//
// component imports only diag. It must not import exprs, the compiler in
// pipelines, transforms, connectors or engine.
package component
