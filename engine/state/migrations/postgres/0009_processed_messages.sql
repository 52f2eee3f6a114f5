-- Deliveries a JetStream intake's workers finished (state.ProcessedKeys):
-- the long dedupe horizon beyond the stream's duplicate window. Written in
-- the same transaction as the run's retries and dead letters, so a
-- redelivery after a crash between that commit and the acknowledgement is
-- recognised and acknowledged without running again.
CREATE TABLE processed_messages (
    consumer     text        NOT NULL,
    msg_key      text        NOT NULL,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (consumer, msg_key)
);
CREATE INDEX processed_messages_at ON processed_messages USING brin (processed_at);
