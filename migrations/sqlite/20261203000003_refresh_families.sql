-- Refresh-token families: every token rotated from one sign-in shares its family, and a rotated
-- token is kept (marked used) until it expires, so presenting it again is recognised as reuse
-- (a stolen token) and revokes the whole family. Twin: ../postgres/ or ../sqlite/ (same name).
ALTER TABLE refresh_tokens ADD COLUMN family_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN used_at BIGINT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
