-- Keys a dedupe step with persist: true has seen (component.KeyLog), by
-- scope. The index serves expiry and pruning, which delete a scope's
-- oldest keys.
CREATE TABLE seen_keys (
    scope      text        NOT NULL,
    key        text        NOT NULL,
    first_seen timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX seen_keys_age ON seen_keys (scope, first_seen);
