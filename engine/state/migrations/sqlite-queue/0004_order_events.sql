-- What happened to each order in serve (state.OrderEvents): received,
-- run, retried, dead-lettered; kept OrderEventsKept, for the console.
CREATE TABLE order_events (
    id     INTEGER PRIMARY KEY,
    ref    TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    detail TEXT    NOT NULL
) STRICT;
CREATE INDEX order_events_ref ON order_events (ref, id);
CREATE INDEX order_events_at ON order_events (at);
