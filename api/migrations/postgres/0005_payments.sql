-- Partial refunds, chargebacks and the reconciler.
ALTER TABLE donations DROP CONSTRAINT donations_status_check;
ALTER TABLE donations ADD CONSTRAINT donations_status_check CHECK (status IN
    ('pending', 'succeeded', 'failed', 'expired', 'refunded', 'disputed', 'charged_back'));
-- Refunded so far; a partial refund leaves the status `succeeded`.
ALTER TABLE donations ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
UPDATE donations SET refunded_minor = amount_minor WHERE status = 'refunded';
ALTER TABLE donations ADD CONSTRAINT donations_refunded_check
    CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor);
-- The reconciler leaves a pending donation alone until then (a lease between processes).
ALTER TABLE donations ADD COLUMN reconcile_after TIMESTAMPTZ;
ALTER TABLE donations ADD COLUMN reconcile_attempts INTEGER NOT NULL DEFAULT 0;
DROP INDEX donations_pending;
CREATE INDEX donations_pending ON donations (reconcile_after, created_at) WHERE status = 'pending';

-- What an event said, so one kept for review (unknown donation, wrong amount) can be judged.
ALTER TABLE payment_events ADD COLUMN amount_minor BIGINT;
ALTER TABLE payment_events ADD COLUMN currency TEXT;
ALTER TABLE payment_events ADD COLUMN refunded_minor BIGINT;
CREATE INDEX payment_events_by_donation ON payment_events (donation_id);
