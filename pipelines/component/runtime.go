package component

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/pipectl/pipectl/pipelines/record"
)

// Runtime is what the engine hands every kind it builds: the outside world,
// injected, so tests and dry runs can replace it.
type Runtime struct {
	Clock  Clock
	Logger *slog.Logger
	// Dir is the pipeline file's directory. What a pipeline ships with
	// (lookup tables, schema files) resolves against it; the data a run
	// reads and writes (file sources and sinks) resolves against the
	// working directory, as in a shell.
	Dir       string
	LookupEnv func(string) (string, bool)
	Stdin     io.Reader
	Stdout    io.Writer
	// DryRun is set when nothing may be changed outside the process: sinks
	// are replaced by captures, and stateful kinds must not persist.
	DryRun bool
	// Append is set by `pipectl serve`, which runs a pipeline once per
	// batch of deliveries: file sinks add each run's records to their file
	// instead of replacing it (which would keep only the last batch), and a
	// run that does not commit takes back what it added.
	Append bool
	// Tables, by lookup step name, replace the tables those steps would
	// load: pipeline tests mock lookups with them.
	Tables map[string][]map[string]any
	// Inventory is the stock state the allocate step and inventory sink
	// read and change; nil when the run has none.
	Inventory Inventory
	// Keys remembers keys across runs (a dedupe step with persist: true);
	// nil when the run has no state store.
	Keys KeyLog
	// Answered, when set, is told the status of every request a sink
	// makes (0 when no answer came): serve counts them in its metrics.
	// Called from the sink's delivery goroutines.
	Answered func(sink string, status int)
	// RetryLater is set by serve, which keeps sink retries in its store so
	// they survive restarts and do not hold a run: a sink makes one attempt
	// per record and reports a failure that may pass later as a
	// DeliveryError with Retryable set; the engine hands it to
	// Options.Defer instead of the sink's error output.
	RetryLater bool
	// Checkpoints keep how far polling sources have read (serve and run
	// with a state store); nil when the run has none.
	Checkpoints Checkpoints
	// Explain, when set, is given every explanation a step produces of a
	// decision (the allocate step's, per order), as JSON, from the goroutine
	// that runs the step: dry runs with --trace print them. Steps call it
	// only when it is set, so runs pay nothing for it.
	Explain func(step, ref string, explanation []byte)
	// Delivered, when set, is told each record a sink delivered and the
	// far end acknowledged (an http sink's 2xx), with what identifies the
	// request (its Idempotency-Key): serve records it on the order's
	// timeline. Called from the sink's delivery goroutines.
	Delivered func(sink string, rec *record.Record, detail string)
	// Discrepancy, when set, is told each count an inventory sink's feed
	// set that differs from the on-hand quantity held for the row (serve
	// counts them in its metrics). Called after the update committed.
	Discrepancy func(sink string, d Discrepancy)
	// AllocationOutcome, when set, is told how each order an allocate
	// step decided came out (OrderOutcome), once the decision committed;
	// a replayed order is not told again. serve counts them.
	AllocationOutcome func(step, outcome string)
	// Connections, when set, keeps sinks' HTTP connections open across
	// runs (serve); without it a sink's connections close with the sink.
	Connections *Connections
}

// BuildContext is a node being built for a run.
type BuildContext struct {
	Name    string
	Config  *Value
	Input   *Type
	Runtime *Runtime
	// Decode is the projection to decode arriving records with: what this
	// node reads, merged with what the steps after it read of the same
	// records, so a chain of pass-through steps decodes each record once.
	Decode *record.Projection
	// Fail reports a record a sink could not deliver after it returned from
	// Write (an HTTP request that exhausted its retries); the engine routes
	// it to the sink's error output.
	Fail func(rec *record.Record, err error)
	// RuleSet returns the rule set a node names (a RefField into the rules
	// section): its settings, its `when` condition and its `overrides`, each
	// nil when absent; ok is false when the plan has no such rule set. Nil
	// when the engine has no plan to read them from.
	RuleSet func(name string) (config, when, overrides *Value, ok bool)
	// RulesVersion names the version of the rule sets RuleSet returns (a
	// hash of the rules file), recorded in explanations; "" when unknown.
	RulesVersion string
	// Pipeline is the name of the pipeline the node belongs to: state a
	// node keeps in the store is scoped by it.
	Pipeline string
}

// RuleUser is a Step whose behaviour comes from rule sets. The engine
// swaps a running step's rules through it (rules hot swap): PrepareRules
// compiles the rule sets ctx.RuleSet returns, without changing the step,
// and the commit it returns puts them in force at once, so every record
// sees either the old rules or the new ones, never a mix. A step that
// cannot take the new rules returns an error and keeps its own.
type RuleUser interface {
	PrepareRules(ctx BuildContext) (commit func(), err error)
}

// Emit sends a record out of a step through one of its outputs ("" is the
// default output, ErrorOutput the error output).
type Emit func(output string, rec *record.Record)

// Step is a built step kind. It is shared by the workers of a run; each
// worker asks it for a StepWorker of its own (its own expression VM).
type Step interface {
	NewWorker() StepWorker
}

// StepWorker processes records on one goroutine. Process emits zero or more
// records; a record that fails is emitted on ErrorOutput, built with
// ErrorRecord, never dropped silently.
type StepWorker interface {
	Process(ctx context.Context, rec *record.Record, emit Emit)
}

// BatchWorker is a StepWorker of the ordered stage that decides several
// records at once and makes their effects durable together: allocate
// commits a group of orders in one transaction, which is what makes it
// fast, since a commit costs more than deciding an order. The engine
// gives it, in order, the records that reach it while one batch of input
// is delivered, and delivers what it emits when ProcessBatch returns.
// ProcessBatch emits each record's outputs with the record's index, and
// only once they are durable: nothing downstream may see an order whose
// allocation could still be rolled back.
type BatchWorker interface {
	StepWorker
	ProcessBatch(ctx context.Context, recs []*record.Record, emit func(i int, output string, rec *record.Record))
}

// DropReasoner is a StepWorker that can say why it emitted nothing for a
// record: a filter whose condition was false, a dedupe key seen before, a
// route no condition matched. Traced dry runs show it beside the record,
// so a consultant sees where and why a record went nowhere. The engine
// asks only when tracing, right after Process emitted nothing for rec.
type DropReasoner interface {
	DropReason(rec *record.Record) string
}

// Flusher is a StepWorker that holds records back (group) and emits them
// when the input ends.
type Flusher interface {
	Flush(ctx context.Context, emit Emit)
}

// Source is a built source kind.
type Source interface {
	// Read emits the source's records in order until the input ends, ctx is
	// done, or emit returns an error (which Read returns). Records that
	// cannot be parsed are emitted with ErrorRecord as errors of the
	// source, via emitErr.
	Read(ctx context.Context, emit func(*record.Record) error, emitErr func(*record.Record) error) error
}

// Sized is a Source that knows how many bytes it will read, for progress
// and ETA.
type Sized interface {
	Size() int64
	BytesRead() int64
}

// Sink is a built sink kind. The engine calls it from one goroutine, in
// record order:
//
//   - Write hands the sink a record. An error sends that record to the
//     sink's error output. A sink that delivers in the background (http)
//     returns at once and reports a record it later fails to deliver
//     through BuildContext.Fail. ctx bounds the write and whatever it
//     starts: when it is done, requests in flight and retry waits stop.
//   - Flush returns once every record written so far is delivered or
//     reported through Fail, and what the sink keeps (a file's bytes) is
//     durable where it can be. It is the point at which acknowledging the
//     input those records came from is safe; it may be called many times.
//   - Close ends the sink, once, also after failures. With commit, what was
//     written is published (a file sink renames its temporary file into
//     place); without, it is discarded and whatever was there before stays
//     (a run that failed or was interrupted must not replace yesterday's
//     good file with half of today's). Records not yet delivered when a
//     sink closes without commit are reported through Fail with an error
//     that wraps ErrNotDelivered.
type Sink interface {
	Write(ctx context.Context, rec *record.Record) error
	Flush(ctx context.Context) error
	Close(ctx context.Context, commit bool) error
}

// Starter is a node with I/O to do before a run reads anything: a file sink
// creates its folder and its temporary file, so a path that cannot be
// written stops the run at its start instead of failing every record. The
// engine starts nodes only for real runs: validate, dry runs and pipeline
// tests build nodes and never start them.
type Starter interface {
	Start(ctx context.Context) error
}

// ErrNotDelivered is wrapped by the error a sink reports, through Fail, for
// a record it stopped delivering because the run ended first (interrupted,
// or failed elsewhere): the record may or may not have reached its
// destination, and delivering it again is the caller's decision.
var ErrNotDelivered = errors.New("not delivered: the run ended first")

// DeliveryStats is a Sink that counts its delivery attempts, for the
// summary of a run.
type DeliveryStats interface {
	Delivery() Delivery
}

// Delivery is what a sink did to deliver its records: Attempts counts every
// request made (first tries and retries), Retries the attempts after a
// first, and Busy the wall time during which at least one delivery was in
// flight (requests and the waits between their attempts), which is the time
// a background sink spent, as opposed to the time Write took. InFlight is
// how many records are being delivered now.
type Delivery struct {
	Attempts int64
	Retries  int64
	Busy     time.Duration
	InFlight int64
}

// Describer is a Sink that can say, without doing it, what it would do
// with a record: an HTTP sink's exact request. Dry runs print it.
type Describer interface {
	Describe(rec *record.Record) (any, error)
}
