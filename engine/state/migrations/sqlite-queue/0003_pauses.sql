-- Pipelines and triggers an operator paused (state.Pauses). trigger_name
-- '' pauses the whole pipeline.
CREATE TABLE pauses (
    pipeline     TEXT    NOT NULL,
    trigger_name TEXT    NOT NULL,
    paused_at    INTEGER NOT NULL,
    paused_by    TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    PRIMARY KEY (pipeline, trigger_name)
) STRICT, WITHOUT ROWID;
