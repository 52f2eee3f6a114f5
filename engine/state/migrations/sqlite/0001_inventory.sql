-- Inventory state. Quantities are integers of ten-thousandths (scale 4);
-- times are Unix microseconds.
CREATE TABLE locations (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL DEFAULT '',
    priority  INTEGER NOT NULL DEFAULT 0,
    market    TEXT NOT NULL DEFAULT '',
    lat       REAL,
    lng       REAL,
    pickup    INTEGER NOT NULL DEFAULT 0,
    disabled  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE skus (
    sku         TEXT PRIMARY KEY,
    tracked     INTEGER NOT NULL DEFAULT 1,
    qty_decimal INTEGER NOT NULL DEFAULT 0,
    components  TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE stock (
    sku          TEXT NOT NULL,
    location     TEXT NOT NULL,
    on_hand      INTEGER NOT NULL DEFAULT 0,
    committed    INTEGER NOT NULL DEFAULT 0,
    safety_stock INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (sku, location)
) STRICT, WITHOUT ROWID;

CREATE TABLE reservations (
    id         TEXT PRIMARY KEY,
    sku        TEXT NOT NULL,
    location   TEXT NOT NULL,
    qty        INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ref        TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX reservations_stock ON reservations (sku, location, expires_at);
CREATE INDEX reservations_ref ON reservations (ref);
CREATE INDEX reservations_expiry ON reservations (expires_at);

CREATE TABLE movements (
    seq      INTEGER PRIMARY KEY,
    sku      TEXT NOT NULL,
    location TEXT NOT NULL,
    bucket   TEXT NOT NULL,
    delta    INTEGER NOT NULL,
    reason   TEXT NOT NULL DEFAULT '',
    ref      TEXT NOT NULL DEFAULT '',
    key      TEXT NOT NULL DEFAULT '',
    at       INTEGER NOT NULL
) STRICT;
CREATE INDEX movements_sku ON movements (sku, seq);

-- An applied event (an Apply, by idempotency key): the outcome a replay
-- returns, and the explanation of the decision, recorded in the same
-- transaction as the stock changes.
CREATE TABLE applied (
    seq         INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    ref         TEXT NOT NULL,
    outcome     BLOB NOT NULL,
    explanation BLOB,
    applied_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX applied_explained ON applied (ref, seq) WHERE explanation IS NOT NULL;

CREATE TABLE feed_applied (
    key        TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE rule_changes (
    seq       INTEGER PRIMARY KEY,
    rule      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    at        INTEGER NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    reason    TEXT NOT NULL
) STRICT;
CREATE INDEX rule_changes_rule ON rule_changes (rule, seq);
