// Package state holds pipectl's inventory state: stock levels per (sku,
// location), reservations, locations, SKU settings, the ledger of stock
// movements, the rule audit log and allocation explanations. It implements
// component.Inventory twice, on SQLite (the embedded default: a file in
// ./.pipectl/, nothing to install) and on PostgreSQL (state shared by
// several processes), and one conformance suite runs against both.
//
// state imports the component contract; like the rest of engine it must not
// import transforms, connectors or cmd, which see the store only as
// component.Inventory.
//
// Choices made here:
//
//   - Quantities are stored as integers of ten-thousandths (DOMAIN.md §2.1
//     fixes the scale at 4), in both databases, so every sum and comparison
//     in SQL is exact integer arithmetic and the two implementations cannot
//     disagree on rounding. A quantity with more than 4 decimal places is
//     refused (component.ErrInvalidQuantity), never rounded.
//   - Apply is one transaction. On SQLite every write transaction starts
//     with BEGIN IMMEDIATE on the one writer connection, so writers are
//     serialized (also across processes sharing the file, through
//     busy_timeout) and the snapshot decide sees cannot change under it. On
//     PostgreSQL the stock rows of the request's SKUs are locked with
//     SELECT … ORDER BY sku, location FOR UPDATE: every transaction takes
//     row locks in the same order, so concurrent orders queue on the rows
//     they share instead of deadlocking, and reading committed rows after
//     the lock gives each order the stock its predecessors left. A row that
//     did not exist when locked and was created by a concurrent transaction
//     makes the insert fail; the whole transaction is retried, decide
//     included, as it is after a deadlock or serialization failure.
//     Locks are always taken rows first, then the idempotency key (Apply
//     and ApplyGroup alike), and multi-row deletes of reservations lock
//     in id order, so no two of the store's transactions can wait for
//     each other crosswise.
//   - The last defence against oversell is in the schema: the check
//     stock_no_oversell, committed − backordered ≤ on_hand + uncovered. The
//     allocated part of a row (what is committed and not booked as a
//     backorder) must be on hand, except for uncovered, the units that a
//     count or feed lowering on_hand, a shipment of backordered units, or
//     a change the rules let go below zero (AllowNegative) left without
//     stock. Those are facts or explicit permissions and are recorded;
//     an ordinary allocation never raises uncovered
//     (rowChange.uncoveredGrowth), so one that would commit units not on
//     hand, by a wrong decide or a wrong lock, is refused by the database
//     on the row's real values, as an *OversellError naming the SKU and
//     location, never retried, the event's transaction rolled back. Safety
//     stock and reservations stay out of the check (policy and time, not
//     stock); the guard keeps allocation off them.
//   - The guards (available, on-hand and committed not below zero unless
//     an adjustment allows it) are checked on the locked rows in Go, on the
//     net change per row, so a shipment (on_hand −q, committed −q) that
//     leaves available unchanged never fails on its first half.
//   - Idempotency: the key of an Apply is claimed first (an insert that
//     waits, on PostgreSQL, for a concurrent transaction holding the same
//     key), so a replay running beside the original waits for it and
//     returns its stored outcome; nothing runs twice. The outcome is stored
//     as JSON with the records as bytes, so a replay reproduces them
//     exactly. Feed updates have their own key table.
//   - Fingerprints: an event (ApplyRequest.Fingerprint) and a feed update
//     (its mode, row, bucket and quantity, hashed here) are stored with
//     what they were, and a key seen again with another fingerprint fails
//     with component.ErrConflict in the transaction that finds it, so the
//     check and the claim cannot race. Rows stored before fingerprints
//     existed have none and replay unchecked; the caller may check more
//     (allocate compares an old order's stored explanation).
//   - Legacy keys: when a request's key was never applied, the key an
//     older pipectl used for the same event (ApplyRequest.LegacyKey,
//     LevelUpdate.LegacyKey) is looked up in the same transaction, and an
//     event found there replays, so scoping keys never applies an event
//     twice. On PostgreSQL the claim of the new key is given back then.
//   - Backordered units (stock.backordered) are kept per row from the
//     movements marked Backorder, never below zero, and do not change
//     available. Migration 4 adds the column and fills it from the ledger,
//     folding each order line's committed movements as the stock events
//     do (a cancel settles the backorder first, a deallocation or ship the
//     allocation first).
//   - A feed update with By (a change made by hand) writes its audit log
//     entry, "level/SKU@LOCATION", in the update's transaction, only when the
//     bucket changes.
//   - Reservations are rows with an expiry; a stock row keeps the total of
//     its reservation rows (held) so that reading a row with none costs no
//     second query. Expired reservations stop counting at once and are
//     deleted by ExpireReservations.
//   - SQLite runs in WAL mode with synchronous=NORMAL: a commit survives a
//     crash of the process, and the last commits before a power loss may
//     be lost, which the at-least-once delivery with idempotency keys
//     around the store recovers from.
//   - Schema migrations are numbered SQL files per database under
//     migrations/, applied at Open in one transaction and recorded in
//     schema_migrations; a database newer than this binary is refused.
//
// The serve state (Queue, OpenQueue: the intake queue, sink retries, dead
// letters, runs, cron ticks, polling checkpoints, the operators' audit
// log) follows the same patterns, with these choices:
//
//   - On SQLite it is a file of its own, queue.db beside state.db, with its
//     own migrations (migrations/sqlite-queue), written with
//     synchronous=FULL: in WAL mode that syncs the log at every commit, so
//     a delivery Enqueue returned for survives a power cut (NORMAL would
//     sync only at checkpoints). On PostgreSQL its tables are migration 5
//     of the one database, applied by Open or OpenQueue, whichever runs
//     first. Times are microseconds since the epoch on SQLite (0: none) and
//     timestamptz on PostgreSQL (NULL: none), as for inventory.
//   - Group commit: on SQLite one writer goroutine owns the write
//     connection. Enqueue hands it its delivery and waits; the writer takes
//     every request waiting (up to 512), commits their deliveries in one
//     BEGIN IMMEDIATE transaction, one fsync, and answers each. Every
//     other write goes through the same goroutine in a transaction of its
//     own; reads use read-only connections. An Enqueue whose context ends
//     first returns its error while the delivery may still commit; the
//     storefront's retry is then a duplicate. PostgreSQL commits each
//     Enqueue in its own transaction and groups concurrent fsyncs itself.
//   - Dedupe: event ids live in their own table keyed (pipeline, event id)
//     with the first delivery's id and time, so a repeat is caught after
//     that delivery finished and was deleted; an entry older than
//     DedupeHorizon is taken over by the next delivery of its id, and
//     such entries are deleted at a process's first Enqueue and then hourly.
//     Deliveries of one group are deduped in order, so the second of two
//     with one id is the duplicate; on PostgreSQL the id is inserted first
//     and a concurrent Enqueue of the same id waits for it.
//   - Claims order by id (arrival, AUTOINCREMENT / identity so ids are
//     never reused) and lease with leased_until; a delivery whose lease
//     ran out, or whose not_before has come, is claimable again, and each
//     claim adds an attempt. PostgreSQL claims with FOR UPDATE SKIP LOCKED,
//     so claimers in several processes never wait for each other nor take
//     the same row. Retries are claimed the same way, by next time.
//   - Finish and RetryDead are one transaction each: a reader sees a
//     delivery or its outcome (retries, dead letters), never both or
//     neither. Lists (dead letters, runs, audit) are newest first, by id.
//     Headers are stored as JSON text; attempts as a JSON array (jsonb on
//     PostgreSQL, appended in place); run nodes and audit details as the
//     bytes given.
package state
