-- Keys a dedupe step with persist: true has seen (component.KeyLog), by
-- scope. Times are microseconds since the epoch; expires_at is far in the
-- future for keys that do not expire. run names the run whose claim is not
-- settled yet, '' once it is. The indexes serve pruning, which deletes a
-- scope's oldest keys, and settling, which finds a run's claims.
CREATE TABLE seen_keys (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    run        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX seen_keys_age ON seen_keys (scope, claimed_at);
CREATE INDEX seen_keys_run ON seen_keys (run) WHERE run <> '';
