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

-- The runs holding unsettled claims, and when each last claimed: a run
-- that has not claimed for component.ClaimLease is taken for dead, and
-- its claims may be taken over.
CREATE TABLE claim_runs (
    run      TEXT    NOT NULL PRIMARY KEY,
    alive_at INTEGER NOT NULL
) WITHOUT ROWID;
