-- The ledger of one order (OrderMovements, ApplyRequest.Ledger): refs are
-- "<order>" or "<order>/<line>", found by equality or a range of the
-- byte-wise order.
CREATE INDEX movements_ref ON movements (ref, seq);
