-- Outbox payloads become one tagged JSON shape ({"type": kind, ...}) so the worker decodes a
-- typed delivery instead of dispatching on a string; receipts get the purchase id they belong
-- to as a column, so a bundle's parts and a push's transaction are found without parsing keys.
-- Twin: ../postgres/ (same name).

UPDATE outbox SET payload = json_object('type', 'push', 'jws', payload) WHERE kind = 'push';
UPDATE outbox SET payload = json_object('type', 'receipt', 'key', dedupe_key, 'forward', json(payload))
  WHERE kind = 'receipt';
UPDATE outbox SET payload = json_object('type', 'signup_account', 'account', json(payload))
  WHERE kind = 'signup_account';
UPDATE outbox SET payload = json_object('type', 'event', 'body', payload) WHERE kind = 'event';

-- The purchase id in its matching form (UUIDs undashed, lower case; opaque ids as sent). Rows
-- from before keep the id exactly as posted.
ALTER TABLE receipts ADD COLUMN purchase_key TEXT;
UPDATE receipts SET purchase_key = CASE WHEN instr(purchase_id, '#') > 0
    THEN substr(purchase_id, 1, instr(purchase_id, '#') - 1) ELSE purchase_id END;
CREATE INDEX receipts_purchase_key ON receipts (purchase_key);
