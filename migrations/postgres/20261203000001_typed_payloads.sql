-- Outbox payloads become one tagged JSON shape ({"type": kind, ...}) so the worker decodes a
-- typed delivery instead of dispatching on a string; receipts get the purchase id they belong
-- to as a column, so a bundle's parts and a push's transaction are found without parsing keys.
-- Twin: ../sqlite/ (same name).

UPDATE outbox SET payload = json_build_object('type', 'push', 'jws', payload)::text WHERE kind = 'push';
UPDATE outbox SET payload = json_build_object('type', 'receipt', 'key', dedupe_key, 'forward', payload::json)::text
  WHERE kind = 'receipt';
UPDATE outbox SET payload = json_build_object('type', 'signup_account', 'account', payload::json)::text
  WHERE kind = 'signup_account';
UPDATE outbox SET payload = json_build_object('type', 'event', 'body', payload)::text WHERE kind = 'event';

-- The purchase id in its matching form (UUIDs undashed, lower case; opaque ids as sent). Rows
-- from before keep the id exactly as posted.
ALTER TABLE receipts ADD COLUMN purchase_key TEXT;
UPDATE receipts SET purchase_key = split_part(purchase_id, '#', 1);
CREATE INDEX receipts_purchase_key ON receipts (purchase_key);
