-- Pipelines and triggers an operator paused (state.Pauses). trigger_name
-- '' pauses the whole pipeline.
CREATE TABLE pauses (
    pipeline     text        NOT NULL,
    trigger_name text        NOT NULL,
    paused_at    timestamptz NOT NULL,
    paused_by    text        NOT NULL,
    reason       text        NOT NULL,
    PRIMARY KEY (pipeline, trigger_name)
);
