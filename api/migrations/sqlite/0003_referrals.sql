-- Supporters' share links: who made them, for which campaign, and how often they were followed.
CREATE TABLE referral_codes (
    code         TEXT PRIMARY KEY NOT NULL,
    campaign     TEXT NOT NULL REFERENCES campaigns (slug),
    display_name TEXT,
    leaderboard  INTEGER NOT NULL DEFAULT 0 CHECK (leaderboard IN (0, 1)),
    clicks       INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

ALTER TABLE donations ADD COLUMN referral_code TEXT REFERENCES referral_codes (code);
CREATE INDEX donations_by_referral ON donations (referral_code) WHERE referral_code IS NOT NULL;
