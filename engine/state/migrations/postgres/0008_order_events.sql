-- What happened to each order in serve (state.OrderEvents): received,
-- run, retried, dead-lettered; kept OrderEventsKept, for the console.
CREATE TABLE order_events (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref    text        NOT NULL,
    at     timestamptz NOT NULL,
    kind   text        NOT NULL,
    detail text        NOT NULL
);
CREATE INDEX order_events_ref ON order_events (ref, id);
CREATE INDEX order_events_at ON order_events (at);
