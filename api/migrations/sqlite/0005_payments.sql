-- Partial refunds, chargebacks and the reconciler. SQLite cannot alter a CHECK constraint,
-- so the donations table is rebuilt with the wider status list and the new columns.
CREATE TABLE donations_new (
    id                 TEXT PRIMARY KEY NOT NULL,
    campaign           TEXT NOT NULL REFERENCES campaigns (slug),
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN
                           ('pending', 'succeeded', 'failed', 'expired', 'refunded', 'disputed', 'charged_back')),
    -- Refunded so far; a partial refund leaves the status `succeeded`.
    refunded_minor     INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    lang               TEXT NOT NULL,
    gateway            TEXT NOT NULL,
    gateway_reference  TEXT,
    checkout_url       TEXT,
    idempotency_key    TEXT UNIQUE,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    display_name       TEXT,
    anonymous          INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
    referral_code      TEXT REFERENCES referral_codes (code),
    -- The reconciler leaves a pending donation alone until then (a lease between processes).
    reconcile_after    TEXT,
    reconcile_attempts INTEGER NOT NULL DEFAULT 0
);

INSERT INTO donations_new (id, campaign, amount_minor, currency, status, refunded_minor, lang, gateway,
    gateway_reference, checkout_url, idempotency_key, created_at, updated_at, display_name, anonymous, referral_code)
SELECT id, campaign, amount_minor, currency, status,
    CASE WHEN status = 'refunded' THEN amount_minor ELSE 0 END,
    lang, gateway, gateway_reference, checkout_url, idempotency_key, created_at, updated_at, display_name,
    anonymous, referral_code
FROM donations;

DROP TABLE donations;
ALTER TABLE donations_new RENAME TO donations;

CREATE INDEX donations_pending ON donations (reconcile_after, created_at) WHERE status = 'pending';
CREATE INDEX donations_by_referral ON donations (referral_code) WHERE referral_code IS NOT NULL;
CREATE INDEX donations_recent ON donations (campaign, updated_at) WHERE status = 'succeeded';

-- What an event said, so one kept for review (unknown donation, wrong amount) can be judged.
ALTER TABLE payment_events ADD COLUMN amount_minor INTEGER;
ALTER TABLE payment_events ADD COLUMN currency TEXT;
ALTER TABLE payment_events ADD COLUMN refunded_minor INTEGER;
CREATE INDEX payment_events_by_donation ON payment_events (donation_id);
