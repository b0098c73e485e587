-- Supporters' share links: who made them, for which campaign, and how often they were followed.
CREATE TABLE referral_codes (
    code         TEXT PRIMARY KEY,
    campaign     TEXT NOT NULL REFERENCES campaigns (slug),
    display_name TEXT,
    leaderboard  BOOLEAN NOT NULL DEFAULT FALSE,
    clicks       BIGINT NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE donations ADD COLUMN referral_code TEXT REFERENCES referral_codes (code);
CREATE INDEX donations_by_referral ON donations (referral_code) WHERE referral_code IS NOT NULL;
