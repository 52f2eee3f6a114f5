-- Keys a dedupe step with persist: true has seen (component.KeyLog), by
-- scope; first_seen in microseconds since the epoch. The index serves
-- expiry and pruning, which delete a scope's oldest keys.
CREATE TABLE seen_keys (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX seen_keys_age ON seen_keys (scope, first_seen);
