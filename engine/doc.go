// Package engine runs compiled pipelines: one run over a plan's sources
// (or some of them, Options.Sources), or over injected records (dry runs,
// pipeline tests, and each batch of deliveries `pipectl serve` runs, see
// engine/serve), with the rules hot swap (Running.ReloadRules); the state
// it opens lives in engine/state.
//
// engine imports the compiler in pipelines and the component contract; it
// must not import transforms, connectors or cmd, which reach it only through
// the registry cmd/pipectl wires together.
//
// Choices made here:
//
//   - Check builds every step and sink of a compiled plan without starting
//     them, with a Runtime that does no observable I/O, and reports what
//     that finds at the settings at fault (component.SettingError);
//     validate, graph, dry-run, test and run reach it through
//     pipelines.Options.Check, so what a run would fail on before reading
//     a record is found by validate. Sources are not built (their input is
//     data of the run), nor nodes with errors already reported.
//   - A source that declares `schema:` admits its records only when what
//     the pipeline reads of them fits the schema (exprs.Conformance,
//     conform.go): the others leave through its error output with the
//     violations, before any step sees them.
//   - Every node is built before anything runs; a build or a Start
//     (component.Starter: a file sink creating its folder and temporary
//     file) that fails part-way closes what was built without commit, so a
//     path that cannot be written stops the run before it reads a record.
//   - Stateless steps run on Options.Workers goroutines, each with its own
//     step workers (one expression VM each) and a decoding arena; sinks,
//     stateful steps and what follows them run on one goroutine, the
//     ordered stage, in input order, so output is the same whatever the
//     number of workers.
//   - A run commits its sinks only when it reaches the end of its input
//     without an error: every sink is flushed first (in topological order,
//     so a sink's late failures reach the sinks reading its error output),
//     then all are closed with commit. A run that fails or whose context
//     ends closes them without commit: file sinks leave the previous file
//     in place, and the http sink stops its requests and retries at once.
//     Records a sink was still delivering are counted as undelivered, not
//     failed: the run did not decide their fate, and running again sends
//     them again with the same idempotency keys.
//   - What a background sink fails to deliver (BuildContext.Fail) goes to
//     its error output after the batch in which it was reported, not at the
//     end of the run.
//   - Delivery belongs to the engine, not to one sink kind: with
//     Runtime.RetryLater a sink reports a failure that may pass later as a
//     retryable component.DeliveryError after one attempt, and the engine
//     offers it to Options.Defer (serve keeps it in its store and retries
//     it with the sink's RetryPolicy) instead of the error output. Error
//     records nothing reads go to Options.Unhandled when set (serve's dead
//     letters). Sources implementing component.Acker are acknowledged
//     once every sink committed (a polling source's checkpoint).
//   - A panic in a step or a sink's Write becomes an error record for the
//     record being processed; the run goes on.
//   - A run's errors and error records are masked with the pipeline's
//     secret values (pipelines.Plan.Secrets), wherever a kind quoted them.
//   - Traced runs record why each dropped record went nowhere
//     (component.DropReasoner, or an output no node reads).
package engine
