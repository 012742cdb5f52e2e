-- Instant Signup eligibility and revocable refresh tokens. Twin: ../sqlite/ (same name).

-- SHA-512 of lower-cased emails (Roku's roku-reserved-email-hash) → who they belong to.
CREATE TABLE email_hashes (
    hash                TEXT   PRIMARY KEY,
    roku_customer_id    TEXT,
    customer_id         TEXT,
    -- set by `roku-bridge isu import-hashes`: the publisher says this is a current subscriber
    imported_subscriber BIGINT NOT NULL DEFAULT 0,
    source              TEXT   NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX email_hashes_customer ON email_hashes (customer_id);

-- Refresh tokens, by SHA-256 of the token: what is stored cannot be replayed.
CREATE TABLE refresh_tokens (
    token_hash  TEXT   PRIMARY KEY,
    customer_id TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_customer ON refresh_tokens (customer_id);
CREATE INDEX accounts_email ON accounts (email);
