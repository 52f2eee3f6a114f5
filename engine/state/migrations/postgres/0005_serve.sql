-- The serve state (state.Queue), in the inventory's database. Optional
-- times (not_before, leased_until, a run's tick and end) are NULL for
-- "none". Header is JSON text as encoded; attempts is a jsonb array of
-- state.Attempt, so an attempt is appended in place.

-- The intake queue; ORDER BY id is arrival order. A delivery is claimable
-- when not_before and leased_until have passed.
CREATE TABLE deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline     text        NOT NULL,
    trigger_name text        NOT NULL,
    version      text        NOT NULL,
    event_id     text        NOT NULL,
    received_at  timestamptz NOT NULL,
    header       text        NOT NULL,
    body         bytea       NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    not_before   timestamptz,
    leased_until timestamptz
);
CREATE INDEX deliveries_pipeline ON deliveries (pipeline, id);

-- Event ids seen per pipeline, kept after their delivery finished so that
-- a repeat within state.DedupeHorizon is still caught; pruned by age.
CREATE TABLE event_ids (
    pipeline    text        NOT NULL,
    event_id    text        NOT NULL,
    delivery    bigint      NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (pipeline, event_id)
);
CREATE INDEX event_ids_age ON event_ids (received_at);

CREATE TABLE retries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline     text        NOT NULL,
    version      text        NOT NULL,
    sink         text        NOT NULL,
    record       bytea       NOT NULL,
    origin       bytea       NOT NULL,
    header       text        NOT NULL,
    delivery     bigint      NOT NULL,
    attempts     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    next_at      timestamptz NOT NULL,
    leased_until timestamptz
);
CREATE INDEX retries_due ON retries (pipeline, next_at);

-- The dead-letter queue. edited is NULL until an operator edits the entry.
CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline     text        NOT NULL,
    version      text        NOT NULL,
    trigger_name text        NOT NULL,
    node         text        NOT NULL,
    error        text        NOT NULL,
    payload      bytea       NOT NULL,
    header       text        NOT NULL,
    edited       bytea,
    record       bytea       NOT NULL,
    delivery     bigint      NOT NULL,
    attempts     jsonb       NOT NULL,
    status       text        NOT NULL,
    reason       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX dead_letters_pipeline ON dead_letters (pipeline, status);

CREATE TABLE runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline     text        NOT NULL,
    trigger_name text        NOT NULL,
    tick         timestamptz,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    outcome      text        NOT NULL,
    error        text        NOT NULL,
    nodes        bytea       NOT NULL
);
CREATE INDEX runs_pipeline ON runs (pipeline, id);

-- Cron ticks claimed: the primary key lets one claimer in per tick,
-- however many serve processes share the database.
CREATE TABLE ticks (
    pipeline     text        NOT NULL,
    trigger_name text        NOT NULL,
    tick         timestamptz NOT NULL,
    claimed_at   timestamptz NOT NULL,
    PRIMARY KEY (pipeline, trigger_name, tick)
);

CREATE TABLE checkpoints (
    pipeline   text        NOT NULL,
    source     text        NOT NULL,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (pipeline, source)
);

CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    subject text        NOT NULL,
    reason  text        NOT NULL,
    detail  bytea       NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);
