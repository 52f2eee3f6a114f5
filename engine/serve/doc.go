// Package serve runs pipelines on their triggers for `pipectl serve`:
// webhook intake on one HTTP handler, one worker per pipeline running what
// was queued, the cron triggers' schedulers, sink retries and dead letters
// kept in the serve state (state.Queue), Prometheus metrics, health and
// readiness, replays of dead letters, and alerts.
//
// It imports the engine and the stores, never the kinds: triggers are
// built through their specs (component.Spec.NewTrigger), as the engine
// builds steps and sinks.
//
// Choices made here:
//
//   - A webhook is acknowledged only once Queue.Enqueue returned: the raw
//     body, its headers (credentials a proxy added removed), the trigger,
//     the pipeline version and the time are committed. The signature is
//     checked on the raw bytes before anything is kept; a signed body that
//     is not JSON is kept as a dead letter and refused with 400, since the
//     storefront will not send it differently.
//   - There is one engine, not a second one for serving: a worker runs a
//     batch of queued deliveries (what queued while its previous run ran,
//     up to Config.BatchSize) as one engine.Run over injected records, so a
//     batch is allocated in one group commit and its sinks are flushed and
//     committed once. Its deliveries leave the queue in one transaction with
//     the retries and dead letters the run produced (Queue.Finish), so a
//     crash leaves either the deliveries to run again or all of their
//     outcome. Running again is safe: allocate's idempotency and the sinks'
//     idempotency keys make each effect land once.
//   - Every record keeps, as its Origin, the delivery it came from, so a
//     failure anywhere downstream (a 422 at the WMS) is a dead letter with
//     the original payload and headers.
//   - Sink retries belong to the engine and live in the store: sinks make
//     one attempt (component.Runtime.RetryLater) and a failure that may pass
//     is deferred (engine.Options.Defer) into a Retry with its attempts and
//     next time, tried again straight at its sink by the worker, with the
//     sink's backoff, until it is delivered, its attempts or age run out
//     (then it goes to the sink's error output, or is a dead letter), so a
//     WMS down for an hour holds neither the other sinks nor the other
//     pipelines, and survives restarts.
//   - A run that fails as a whole gives its deliveries back; taken one at a
//     time from then on, the one at fault becomes a dead letter after
//     Config.MaxRunAttempts and the others flow.
//   - A reload swaps the whole set of pipelines at once; a run in flight
//     finishes on the version it started with, and a cron trigger whose
//     pipeline changed gets a new scheduler once the old one's run ended.
//   - Each batch is a run, so file sinks append (Runtime.Append) instead of
//     replacing their file, and sinks keep their HTTP connections from one
//     run to the next (Runtime.Connections).
//   - A run renews its deliveries' lease every third of it while it runs,
//     so one longer than the lease is not claimed by a second process.
//   - Intake first: while a burst of webhooks is being answered, workers
//     wait, up to a backlog Config.BurstLag old. On a small machine the
//     acknowledgements (which a storefront times out on, and retries)
//     would otherwise share the CPU with the runs; after the burst the
//     backlog runs in bigger, cheaper batches.
package serve
