-- The last defence against oversell, as in the PostgreSQL migration
-- 0012_no_oversell.sql (which explains the choice): a stock row's allocated
-- units (committed - backordered) must be on hand, except for uncovered,
-- the units a feed update or a shipment of backordered units left without
-- stock, which allocation never raises:
--
--     committed - backordered <= on_hand + uncovered
--
-- SQLite cannot add a CHECK to an existing table, so the table is rebuilt
-- with it, uncovered filled in with each row's present gap so that rows
-- already counted below their allocations copy without error.
CREATE TABLE stock_new (
    sku          TEXT NOT NULL,
    location     TEXT NOT NULL,
    on_hand      INTEGER NOT NULL DEFAULT 0,
    committed    INTEGER NOT NULL DEFAULT 0,
    safety_stock INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    backordered  INTEGER NOT NULL DEFAULT 0,
    uncovered    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, location),
    CONSTRAINT stock_uncovered_not_negative CHECK (uncovered >= 0),
    CONSTRAINT stock_no_oversell CHECK (committed - backordered <= on_hand + uncovered)
) STRICT, WITHOUT ROWID;
INSERT INTO stock_new (sku, location, on_hand, committed, safety_stock, updated_at, backordered, uncovered)
    SELECT sku, location, on_hand, committed, safety_stock, updated_at, backordered,
           MAX(0, committed - backordered - on_hand)
    FROM stock;
DROP TABLE stock;
ALTER TABLE stock_new RENAME TO stock;
