-- What decided an applied event or a feed update, so that a key used
-- again for different content is refused (component.ErrConflict) instead
-- of replayed; NULL for what an older pipectl stored.
ALTER TABLE applied ADD COLUMN fingerprint TEXT;
ALTER TABLE feed_applied ADD COLUMN fingerprint TEXT;
-- The part of committed booked as backorders and not yet shipped or
-- cancelled, which backorder.max_depth counts. Rows written before this
-- migration are filled in from the ledger when it is applied
-- (backfillBackordered).
ALTER TABLE stock ADD COLUMN backordered INTEGER NOT NULL DEFAULT 0;
