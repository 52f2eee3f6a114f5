// Package engine runs compiled pipelines: batch runs, serving triggers and
// schedules, delivery with retries, dead letters and idempotency, and the
// state (inventory, checkpoints, queues, the rule audit log) behind
// interfaces with SQLite and PostgreSQL implementations.
//
// engine imports the compiler in pipelines and the component contract; it
// must not import transforms, connectors or cmd, which reach it only through
// the registry cmd/pipectl wires together.
//
// The language and its compiler come first; the engine's run loop follows
// in the issue "Running pipelines".
package engine
