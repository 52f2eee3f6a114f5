-- The serve state (state.Queue), in queue.db beside the inventory file.
-- Times are microseconds since the epoch, UTC; 0 stands for "none"
-- (not_before, leased_until, a run's tick and end). JSON columns are TEXT.

-- The intake queue. AUTOINCREMENT keeps ids growing after deletions, so
-- ORDER BY id is arrival order and a dedupe entry never names a reused id.
-- A delivery is claimable when not_before and leased_until have passed.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline     TEXT    NOT NULL,
    trigger_name TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    header       TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   INTEGER NOT NULL DEFAULT 0,
    leased_until INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX deliveries_pipeline ON deliveries (pipeline, id);

-- Event ids seen per pipeline, kept after their delivery finished so that
-- a repeat within state.DedupeHorizon is still caught; pruned by age.
CREATE TABLE event_ids (
    pipeline    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    delivery    INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX event_ids_age ON event_ids (received_at);

-- Sink retries; attempts is a JSON array of state.Attempt.
CREATE TABLE retries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline     TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    sink         TEXT    NOT NULL,
    record       BLOB    NOT NULL,
    origin       BLOB    NOT NULL,
    header       TEXT    NOT NULL,
    delivery     INTEGER NOT NULL,
    attempts     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    leased_until INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX retries_due ON retries (pipeline, next_at);

-- The dead-letter queue. edited is NULL until an operator edits the entry.
CREATE TABLE dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline     TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    trigger_name TEXT    NOT NULL,
    node         TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    header       TEXT    NOT NULL,
    edited       BLOB,
    record       BLOB    NOT NULL,
    delivery     INTEGER NOT NULL,
    attempts     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX dead_letters_pipeline ON dead_letters (pipeline, status);

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline     TEXT    NOT NULL,
    trigger_name TEXT    NOT NULL,
    tick         INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL,
    outcome      TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    nodes        BLOB    NOT NULL
) STRICT;
CREATE INDEX runs_pipeline ON runs (pipeline, id);

-- Cron ticks claimed: the primary key lets one claimer in per tick.
CREATE TABLE ticks (
    pipeline     TEXT    NOT NULL,
    trigger_name TEXT    NOT NULL,
    tick         INTEGER NOT NULL,
    claimed_at   INTEGER NOT NULL,
    PRIMARY KEY (pipeline, trigger_name, tick)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkpoints (
    pipeline   TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, source)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    detail  BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_subject ON audit (subject, id);
