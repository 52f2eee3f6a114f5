-- The serve processes on this store (state.Nodes), each as it last
-- reported itself; times in microseconds since the epoch.
CREATE TABLE nodes (
    name       TEXT    NOT NULL PRIMARY KEY,
    roles      TEXT    NOT NULL,
    listen     TEXT    NOT NULL,
    queue      TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
