-- Inventory state. Quantities are integers of ten-thousandths (scale 4),
-- as in the SQLite store, so both compute exactly alike.
CREATE TABLE locations (
    id        text PRIMARY KEY,
    name      text NOT NULL DEFAULT '',
    priority  integer NOT NULL DEFAULT 0,
    market    text NOT NULL DEFAULT '',
    lat       double precision,
    lng       double precision,
    pickup    boolean NOT NULL DEFAULT false,
    disabled  boolean NOT NULL DEFAULT false
);

CREATE TABLE skus (
    sku         text PRIMARY KEY,
    tracked     boolean NOT NULL DEFAULT true,
    qty_decimal boolean NOT NULL DEFAULT false,
    components  text NOT NULL DEFAULT ''
);

CREATE TABLE stock (
    sku          text NOT NULL,
    location     text NOT NULL,
    on_hand      bigint NOT NULL DEFAULT 0,
    committed    bigint NOT NULL DEFAULT 0,
    safety_stock bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (sku, location)
);

CREATE TABLE reservations (
    id         text PRIMARY KEY,
    sku        text NOT NULL,
    location   text NOT NULL,
    qty        bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    ref        text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX reservations_stock ON reservations (sku, location, expires_at);
CREATE INDEX reservations_ref ON reservations (ref);
CREATE INDEX reservations_expiry ON reservations (expires_at);

CREATE TABLE movements (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku      text NOT NULL,
    location text NOT NULL,
    bucket   text NOT NULL,
    delta    bigint NOT NULL,
    reason   text NOT NULL DEFAULT '',
    ref      text NOT NULL DEFAULT '',
    key      text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL
);
CREATE INDEX movements_sku ON movements (sku, seq);

-- An applied event (an Apply, by idempotency key): the outcome a replay
-- returns, and the explanation of the decision, recorded in the same
-- transaction as the stock changes. outcome is NULL while the transaction
-- that claimed the key runs.
CREATE TABLE applied (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text NOT NULL UNIQUE,
    ref         text NOT NULL,
    outcome     bytea,
    explanation bytea,
    applied_at  timestamptz NOT NULL
);
CREATE INDEX applied_explained ON applied (ref, seq) WHERE explanation IS NOT NULL;

CREATE TABLE feed_applied (
    key        text PRIMARY KEY,
    applied_at timestamptz NOT NULL
);

CREATE TABLE rule_changes (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule      text NOT NULL,
    actor     text NOT NULL,
    at        timestamptz NOT NULL,
    old_value text NOT NULL,
    new_value text NOT NULL,
    reason    text NOT NULL
);
CREATE INDEX rule_changes_rule ON rule_changes (rule, seq);
