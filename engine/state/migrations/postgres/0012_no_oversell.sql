-- The last defence against oversell: the database itself refuses a stock
-- row whose allocated units are not on hand, whatever the code above it
-- decided (design/distributed.md §6.2).
--
-- Which inequality is invariant. committed holds two things: units
-- allocated from stock, and units booked as backorders (backordered, which
-- take available below zero on purpose, DOMAIN.md §2.4). So "committed <=
-- on_hand" is not invariant; "committed - backordered <= on_hand" (the
-- allocated part is on hand) is what allocation must never break. It is
-- still broken legitimately by facts recorded after the allocation: a
-- stock count or feed lowering on_hand (a cycle count finds fewer units,
-- or a feed sends a negative level, §2.7 #8), or a shipment of backordered
-- units. Those must be recorded, never refused.
--
-- So the row carries uncovered: how many allocated units on_hand does not
-- cover because such a fact lowered on_hand. The check is
--
--     committed - backordered <= on_hand + uncovered
--
-- Only a feed update (SetLevel, AdjustLevel) and an on-hand decrease that
-- allocates nothing (a shipment) may raise uncovered; every other write,
-- allocation above all, keeps it or lowers it towards the real gap, never
-- raises it (see stockUncovered in store.go). An allocation onto a row
-- that is short, or that would commit units not on hand, therefore fails
-- this check with SQLSTATE 23514 and rolls back its whole transaction.
--
-- Safety stock and reservations are left out on purpose: they are policy
-- and time (an operator raising safety stock, a hold expiring), not
-- physical stock, and a change of policy must not fail on rows allocated
-- under the old one. Allocation keeps them out of what it takes through
-- the guard it runs on the locked rows (guard in store.go).
--
-- Existing rows: uncovered is filled in with each row's present gap before
-- the check is added, so a database that already holds rows counted below
-- their allocations migrates without error, and those rows keep their
-- shortfall on record instead of blocking every later change.
ALTER TABLE stock ADD COLUMN uncovered bigint NOT NULL DEFAULT 0;
UPDATE stock SET uncovered = committed - backordered - on_hand WHERE committed - backordered > on_hand;
ALTER TABLE stock
    ADD CONSTRAINT stock_uncovered_not_negative CHECK (uncovered >= 0),
    ADD CONSTRAINT stock_no_oversell CHECK (committed - backordered <= on_hand + uncovered);
