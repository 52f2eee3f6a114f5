-- The serve processes sharing this database (state.Nodes), each as it
-- last reported itself: pipectl cluster status lists them.
CREATE TABLE nodes (
    name       text PRIMARY KEY,
    roles      text NOT NULL,
    listen     text NOT NULL,
    queue      text NOT NULL,
    version    text NOT NULL,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL
);
