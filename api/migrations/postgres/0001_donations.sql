-- Campaigns mirror site/config.toml and carry the running totals, updated in the same
-- transaction as each donation's status.
CREATE TABLE campaigns (
    slug         TEXT PRIMARY KEY,
    currency     TEXT NOT NULL,
    goal_minor   BIGINT NOT NULL,
    raised_minor BIGINT NOT NULL DEFAULT 0,
    donors       BIGINT NOT NULL DEFAULT 0,
    version      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE donations (
    id                TEXT PRIMARY KEY,
    campaign          TEXT NOT NULL REFERENCES campaigns (slug),
    amount_minor      BIGINT NOT NULL CHECK (amount_minor > 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired', 'refunded')),
    lang              TEXT NOT NULL,
    gateway           TEXT NOT NULL,
    gateway_reference TEXT,
    checkout_url      TEXT,
    idempotency_key   TEXT UNIQUE,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX donations_pending ON donations (created_at) WHERE status = 'pending';

-- Every gateway event ever received, so a repeated one is recognised and ignored.
CREATE TABLE payment_events (
    gateway     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    donation_id TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    result      TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, event_id)
);
