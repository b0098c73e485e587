-- The recent-gifts feed reads the latest succeeded donations of each campaign.
CREATE INDEX donations_recent ON donations (campaign, updated_at) WHERE status = 'succeeded';
