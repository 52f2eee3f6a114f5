// Package connectors holds the kinds that touch the outside world: sources
// (file, stdin, event), sinks (file, stdout, http, inventory, nats,
// postgres) and the triggers that start sources (webhook, cron, message,
// manual).
//
// Each kind lives in its own file with its Spec; the formats live beside
// them (csv.go, xml.go, reader.go for NDJSON and JSON, writer.go for the
// encoders the file and stdout sinks share). connectors imports diag,
// component and exprs; it must not import engine, transforms or cmd.
//
// Choices made here:
//
//   - Reading streams. A source holds one record at a time (a CSV row, an XML
//     record element, a JSON array element), never a whole file, and a record
//     over 64 MiB ends the read, naming the limit and where the record
//     starts, instead of filling memory. With `unwrap` the value holding the
//     records (an API page) is held whole, under the same limit. Records are
//     JSON built by appending; CSV rows keep header order, ints every digit
//     and decimals their exact digits. JSON arrays are split by
//     record.JSONStream, which the pipeline tests' samples share.
//   - Every record is accounted for. A record a source cannot make (a CSV
//     row with a bad cell, an NDJSON line that is not JSON, a value with
//     nothing at the unwrap path) goes to the source's error output with its
//     exact text and file:line:column, and reading goes on. A JSON array
//     element is a record whatever JSON it is; a step that needs an object
//     fails that record alone. Input whose structure is lost (malformed
//     syntax inside a JSON array, malformed XML, gzip data cut short) stops
//     the read with the file, line and column at fault, after every record
//     before it was emitted: nothing after it can be found reliably, and
//     the run fails rather than committing a part.
//   - Records are valid UTF-8. A line, element or row that is not goes to
//     the error output, its bytes kept exactly (component.ErrorRecord
//     carries such payloads as base64, under record_base64), rather than
//     reaching sinks whose output strict JSON readers would refuse. The
//     NDJSON loop checks the encoding as it copies each line (utf8.Valid's
//     ASCII path); whether a line is JSON is checked by the engine's
//     workers, in parallel.
//   - Samples (pipeline tests, dry-run --input) are read by the source's own
//     parser with its settings, through Spec.ReadSample; JSON sources take
//     an object, an array or NDJSON alike for them.
//   - Writing is deterministic and all-or-nothing per file: a file sink
//     writes a hidden temporary file beside its path (locked with flock
//     while it is written) and renames it into place only when the run
//     commits (Close with commit, after fsync, then the folder is synced),
//     so a directory poller never sees half a file, a run that fails or is
//     interrupted leaves the previous file, and no records still give a
//     valid, empty document. Start creates a missing folder and removes the
//     temporary files of the same path no live process holds locked, which
//     is what a killed run leaves. Building a sink touches nothing: dry
//     runs build sinks and never start or write them.
//   - The http sink's URL is the `url` setting after ${VAR} interpolation,
//     plus an optional `path` expression per record; a path may not change
//     the scheme or host, so record data cannot send credentials elsewhere.
//     Retries use exponential backoff with equal jitter (before retry n a
//     uniform wait in [c/2, c], c = backoff·2^(n-1) capped by max_backoff),
//     at least what Retry-After asks, also capped: full jitter can draw
//     near-zero waits every time and give up within seconds, while this
//     keeps the defaults' total wait at two minutes or more. Every wait and
//     request ends with the context Write was given, and a Close without
//     commit stops them, reporting each record as not delivered. Failures
//     are component.DeliveryErrors (last status, attempts), and response
//     bodies quoted in them have the sink's credentials masked.
//     Expressions run in Write on the caller's goroutine with the sink's one
//     VM; the request goroutines do network I/O only.
//   - The http source polls a REST collection page by page (Link headers or
//     page numbers) and keeps a checkpoint: the greatest value of a record
//     field, read from Runtime.Checkpoints when Read starts and saved only
//     from Ack (component.Acker), which the engine calls once every sink
//     committed, so a failed run reads the same records again. It reuses
//     the http sink's auth headers, secret masking and Retry-After parsing;
//     a page that cannot be fetched or parsed fails the run, since the
//     pages after it cannot be found.
//   - The webhook and cron triggers build (Spec.NewTrigger) into a
//     component.Webhook (signature check, ping, event id) and a
//     component.Schedule, which `pipectl serve` uses; building does no I/O.
//     The message trigger builds into a component.Messages, whose Consume
//     reads a JetStream subject with a durable pull consumer and
//     acknowledges each message only after serve queued it. An event source takes samples for dry runs and tests;
//     under serve, each queued delivery is read as a sample is.
//   - The nats and postgres sinks retry as the http sink does and share its
//     settings (retry.go: max_attempts, backoff, max_backoff, max_age; one
//     attempt and a retryable DeliveryError under serve). Neither does I/O
//     when built: dry runs build them and only ask Describe. Each opens its
//     own connection on its first delivery (nats: in Start too) and closes
//     it with the sink; serve builds sinks per run, so a long-lived
//     connection cache like component.Connections is left for later.
//   - The nats sink waits for a PubAck for every message and publishes
//     each record's first attempt on Write's goroutine (async, at most
//     max_in_flight awaiting acks), so messages leave in record order;
//     retries, made by a goroutine per message, may land after later
//     messages. message_id is required: the Nats-Msg-Id header is what
//     makes a retried publish harmless. The connection never buffers while
//     disconnected (ReconnectBufSize(-1)), and its options are
//     jsintake.Connect's, duplicated because connectors may not import
//     engine. Only refusals the server will repeat (max payload, a 400 API
//     error such as a subject of another stream) are permanent; the sink
//     never creates a stream, and Start fails when no stream takes the
//     subject.
//   - The postgres sink writes batch_size rows per transaction as one
//     pgx.Batch of single-row upserts (INSERT … ON CONFLICT (key) DO
//     UPDATE), synchronously in Write and Flush. A row refused with SQLSTATE
//     class 22 or 23 is reported and the batch written again without it,
//     rather than a savepoint per row (see attempt); a constraint checked
//     only at commit (deferrable) cannot be pinned on a row and fails the
//     whole batch. Values go as text, so PostgreSQL converts them and
//     names what does not fit; names are pgx.Identifier-quoted after
//     Validate checked they are plain identifiers. It never creates tables.
//   - The inventory sink writes through Runtime.Inventory, the store the
//     engine opened (it never opens or closes one itself), one idempotent
//     update per record; a set without a key is applied each time, an
//     adjust must have one, since counting a movement twice is the one
//     mistake a replay must never make.
package connectors

import "github.com/pipectl/pipectl/pipelines/component"

// Register adds every connector and trigger kind to r.
func Register(r *component.Registry) {
	for _, s := range []*component.Spec{
		fileSourceSpec, stdinSpec, eventSpec, httpSourceSpec,
		fileSinkSpec, stdoutSpec, httpSinkSpec, inventorySinkSpec, natsSinkSpec, postgresSinkSpec,
		webhookTriggerSpec, cronTriggerSpec, messageTriggerSpec, manualTriggerSpec,
	} {
		r.Add(s)
	}
}
