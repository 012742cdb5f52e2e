-- roku-bridge storage, SQLite dialect. The PostgreSQL twin is ../postgres/ with the same name:
-- keep them in step. Times are epoch milliseconds (BIGINT) so both dialects read them alike.

-- Every verified Roku push, raw and decoded, deduplicated on x-Roku-message-key.
CREATE TABLE pushes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key        TEXT    NOT NULL UNIQUE,
    message_type       TEXT    NOT NULL,
    transaction_type   TEXT,
    transaction_id     TEXT,
    roku_customer_id   TEXT,
    product_code       TEXT,
    raw_jws            TEXT    NOT NULL,
    event_json         TEXT,
    received_at        BIGINT  NOT NULL
);

-- Deliveries still owed to a relay target: pushes to relay, receipts to forward.
CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    target            TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    payload           TEXT    NOT NULL,
    dedupe_key        TEXT    NOT NULL,
    ordering_key      TEXT,
    status            TEXT    NOT NULL DEFAULT 'pending',
    attempts          BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    window_started_at BIGINT  NOT NULL,
    locked_by         TEXT,
    locked_until      BIGINT,
    last_error        TEXT,
    created_at        BIGINT  NOT NULL,
    delivered_at      BIGINT,
    UNIQUE (target, dedupe_key)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_order ON outbox (target, ordering_key, status, id);

-- A purchaseId belongs to the first customer who posts it.
CREATE TABLE receipts (
    purchase_id      TEXT    PRIMARY KEY,
    customer_id      TEXT    NOT NULL,
    forward_json     TEXT    NOT NULL,
    roku_customer_id TEXT,
    state            TEXT    NOT NULL DEFAULT 'claimed',
    outcome_json     TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

-- rokuCustomerId ↔ provider customer.
CREATE TABLE accounts (
    roku_customer_id TEXT   PRIMARY KEY,
    customer_id      TEXT   NOT NULL,
    email            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX accounts_customer ON accounts (customer_id);

-- Subscription state per Roku customer and product, as the pushes tell it.
CREATE TABLE subscriptions (
    roku_customer_id    TEXT   NOT NULL,
    product_code        TEXT   NOT NULL,
    state               TEXT   NOT NULL,
    expires_at          BIGINT,
    cancelled_at        BIGINT,
    last_transaction_id TEXT,
    last_event_at       BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (roku_customer_id, product_code)
);
