-- The replica forwarding and confirming a receipt holds it: `lease_owner` names the process,
-- `lease_until` (epoch ms) is when another replica may take it over if the owner went silent.
-- Twin: ../postgres/ (same name).
ALTER TABLE receipts ADD COLUMN lease_owner TEXT;
ALTER TABLE receipts ADD COLUMN lease_until BIGINT;
