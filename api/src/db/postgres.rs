//! The PostgreSQL store: the shared database when several API nodes run. Rows being changed are
//! locked with `FOR UPDATE`, so two nodes applying events to one donation take turns.

use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use campaigns::Campaigns;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection as _, PgConnection};

use super::group_commit::{self, Done, GroupCommit, Write, WriteBatch};
use super::reports::{
    self, Dialect, GatewayCounts, GiftCount, PendingDonation, PendingSummary, ReferralFunnel, TimeBucket,
};
use super::{
    CampaignTotals, CheckoutRecord, ClaimRequest, ClaimedDonation, ClaimedRow, DONATION_COLUMNS, DONATION_RECORDS,
    DbError, Decision, Donation, DonationRecord, DonationRow, EventResult, Inserted, LEADERBOARD, LeaderboardEntry,
    NewDonation, NewReferralCode, PaymentEvent, RECENT_GIFTS, REFERRAL_STATS, REVIEW_RESULTS, RecentGift,
    ReferralStats, ReviewEvent, Store, StoredEvent, TotalsRow, check_currency, decide, refunded_by,
};
use crate::domain::{CampaignSlug, DonationId, ReferralCode};

/// The report queries' expressions in this dialect.
const DIALECT: Dialect = Dialect {
    unix_seconds: "CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)",
    timestamp: "to_timestamp({value})",
    seconds_since: "EXTRACT(EPOCH FROM now() - {column})",
    parameter: "$",
};

/// Donation batches committed at once (a quarter of the pool).
const CONCURRENT_BATCHES: usize = 4;

/// How long a query waits for a connection. While the database is down every wait runs out
/// (the pool keeps retrying the refused connection until then), so this is how soon a donor
/// hears "try again in a moment" (503) instead of watching the page hang; busy but healthy,
/// the pool hands a connection over in milliseconds.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest any query of the service may run on the server. Each takes milliseconds; one
/// that runs for seconds waits on a lock or a struggling server, and its caller is better
/// served by a 503 than by a request that never ends. Migrations run without it.
const STATEMENT_TIMEOUT: &str = "5s";

pub struct PostgresStore {
    pool: PgPool,
    /// New donations and their checkouts, committed in batches (see `group_commit`).
    group_commit: GroupCommit,
}

impl PostgresStore {
    #[tracing::instrument(name = "db.connect", level = "debug", skip_all)]
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        // A migration may rewrite a large table: it gets a connection of its own, untimed.
        let mut migrating = PgConnection::connect(url).await?;
        sqlx::migrate!("./migrations/postgres").run(&mut migrating).await?;
        migrating.close().await?;
        let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", STATEMENT_TIMEOUT)]);
        let pool =
            PgPoolOptions::new().max_connections(16).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?;
        let group_commit = GroupCommit::start(PostgresWrites(pool.clone()), CONCURRENT_BATCHES);
        Ok(Self { pool, group_commit })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn sync_campaigns(&self, campaigns: &Campaigns) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for campaign in campaigns.iter() {
            let stored: Option<(String, bool)> = sqlx::query_as(
                "SELECT currency, EXISTS (SELECT 1 FROM donations WHERE campaign = $1) FROM campaigns WHERE slug = $1",
            )
            .bind(&campaign.slug)
            .fetch_optional(&mut *tx)
            .await?;
            check_currency(campaign, stored)?;
            sqlx::query(
                "INSERT INTO campaigns (slug, currency, goal_minor) VALUES ($1, $2, $3) \
                 ON CONFLICT (slug) DO UPDATE SET currency = excluded.currency, goal_minor = excluded.goal_minor, \
                 version = campaigns.version + 1 \
                 WHERE campaigns.currency <> excluded.currency OR campaigns.goal_minor <> excluded.goal_minor",
            )
            .bind(&campaign.slug)
            .bind(campaign.currency.code())
            .bind(campaign.goal_minor)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(name = "db.insert_donation", level = "debug", skip_all, fields(donation = donation.id.as_str()))]
    async fn insert_donation(&self, donation: &NewDonation) -> Result<Inserted, DbError> {
        self.group_commit.insert(donation).await
    }

    async fn set_checkout(&self, id: &DonationId, checkout: &CheckoutRecord<'_>) -> Result<(), DbError> {
        let checkout = group_commit::Checkout {
            gateway: checkout.gateway.to_string(),
            gateway_reference: checkout.gateway_reference.to_string(),
            checkout_url: checkout.checkout_url.to_string(),
        };
        self.group_commit.set_checkout(id, checkout).await
    }

    async fn donation(&self, id: &DonationId) -> Result<Option<Donation>, DbError> {
        let row: Option<DonationRow> =
            sqlx::query_as(&format!("SELECT {DONATION_COLUMNS} FROM donations WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Donation::try_from).transpose()
    }

    #[tracing::instrument(name = "db.apply_event", level = "debug", skip_all, fields(donation = event.donation_id.as_str(), event = event.event_id.as_str()))]
    async fn apply_event(&self, event: &PaymentEvent) -> Result<EventResult, DbError> {
        let mut tx = self.pool.begin().await?;
        let recorded = sqlx::query(
            "INSERT INTO payment_events (gateway, event_id, donation_id, outcome, result, amount_minor, currency, \
             refunded_minor) VALUES ($1, $2, $3, $4, 'received', $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&event.gateway)
        .bind(event.event_id.as_str())
        .bind(event.donation_id.as_str())
        .bind(event.outcome.as_str())
        .bind(event.amount.get())
        .bind(event.currency.code())
        .bind(refunded_by(event))
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() == 0 {
            return Ok(EventResult::Duplicate);
        }
        let row: Option<DonationRow> =
            sqlx::query_as(&format!("SELECT {DONATION_COLUMNS} FROM donations WHERE id = $1 FOR UPDATE"))
                .bind(event.donation_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(mut donation) = row.map(Donation::try_from).transpose()? else {
            record_result(&mut tx, event, "unknown donation").await?;
            tx.commit().await?;
            return Ok(EventResult::UnknownDonation);
        };
        let result = match decide(&donation, event) {
            Decision::Move { to, refunded, raised_delta, donors_delta } => {
                sqlx::query(
                    "UPDATE donations SET status = $2, refunded_minor = $4, \
                     gateway_reference = COALESCE($3, gateway_reference), updated_at = now() WHERE id = $1",
                )
                .bind(donation.id.as_str())
                .bind(to.as_str())
                .bind(event.gateway_reference.as_deref())
                .bind(refunded)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE campaigns SET raised_minor = raised_minor + $2, donors = donors + $3, version = version + 1 \
                     WHERE slug = $1",
                )
                .bind(donation.campaign.as_str())
                .bind(raised_delta)
                .bind(donors_delta)
                .execute(&mut *tx)
                .await?;
                record_result(&mut tx, event, to.as_str()).await?;
                donation.status = to;
                donation.refunded = refunded;
                EventResult::Applied(donation)
            }
            Decision::Unchanged => {
                record_result(&mut tx, event, "unchanged").await?;
                EventResult::Unchanged(donation)
            }
            Decision::Refuse(reason) => {
                record_result(&mut tx, event, reason.as_str()).await?;
                EventResult::Refused(donation, reason)
            }
        };
        tx.commit().await?;
        Ok(result)
    }

    async fn campaign_totals(&self) -> Result<Vec<CampaignTotals>, DbError> {
        let rows: Vec<TotalsRow> = sqlx::query_as(
            "SELECT slug, currency, goal_minor, raised_minor, donors, version FROM campaigns ORDER BY slug",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn create_referral_code(&self, code: &NewReferralCode) -> Result<bool, DbError> {
        let result = sqlx::query(
            "INSERT INTO referral_codes (code, campaign, display_name, leaderboard) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(code.code.as_str())
        .bind(code.campaign.as_str())
        .bind(code.display_name.as_ref().map(|n| n.as_str()))
        .bind(code.leaderboard)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(name = "db.add_referral_clicks", level = "debug", skip_all, fields(codes = clicks.len()))]
    async fn add_referral_clicks(&self, clicks: &[(ReferralCode, u64)]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for (code, count) in clicks {
            sqlx::query("UPDATE referral_codes SET clicks = clicks + $2 WHERE code = $1")
                .bind(code.as_str())
                .bind(i64::try_from(*count).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn referral_stats(&self, code: &ReferralCode) -> Result<Option<ReferralStats>, DbError> {
        Ok(sqlx::query_as(REFERRAL_STATS).bind(code.as_str()).fetch_optional(&self.pool).await?)
    }

    #[tracing::instrument(name = "db.record_offline_gift", level = "debug", skip_all, fields(donation = gift.id.as_str()))]
    async fn record_offline_gift(&self, gift: &NewDonation) -> Result<Donation, DbError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO donations (id, campaign, amount_minor, currency, status, lang, gateway, idempotency_key, \
             display_name, anonymous) VALUES ($1, $2, $3, $4, 'succeeded', $5, $6, $7, $8, $9) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(gift.id.as_str())
        .bind(gift.campaign.as_str())
        .bind(gift.amount.get())
        .bind(gift.currency.code())
        .bind(gift.lang.as_str())
        .bind(&gift.gateway)
        .bind(gift.idempotency_key.as_ref().map(|k| k.as_str()))
        .bind(gift.display_name.as_ref().map(|n| n.as_str()))
        .bind(gift.anonymous)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            sqlx::query(
                "UPDATE campaigns SET raised_minor = raised_minor + $2, donors = donors + 1, version = version + 1 \
                 WHERE slug = $1",
            )
            .bind(gift.campaign.as_str())
            .bind(gift.amount.get())
            .execute(&mut *tx)
            .await?;
        }
        let row: DonationRow = sqlx::query_as(&format!(
            "SELECT {DONATION_COLUMNS} FROM donations WHERE id = $1 OR idempotency_key = $2 ORDER BY created_at LIMIT 1"
        ))
        .bind(gift.id.as_str())
        .bind(gift.idempotency_key.as_ref().map(|k| k.as_str()))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn donations_after(&self, after: Option<&str>, limit: i64) -> Result<Vec<DonationRecord>, DbError> {
        Ok(sqlx::query_as(
            &DONATION_RECORDS
                .replace("{ts(created_at)}", &rfc3339("created_at"))
                .replace("{ts(updated_at)}", &rfc3339("updated_at")),
        )
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn recent_gifts(&self, per_campaign: i64) -> Result<Vec<RecentGift>, DbError> {
        Ok(sqlx::query_as(
            &RECENT_GIFTS.replace("{at}", r#"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#),
        )
        .bind(per_campaign)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn leaderboard(&self, campaign: &CampaignSlug, limit: i64) -> Result<Vec<LeaderboardEntry>, DbError> {
        Ok(sqlx::query_as(LEADERBOARD).bind(campaign.as_str()).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn payment_events(&self, donation: &DonationId) -> Result<Vec<StoredEvent>, DbError> {
        Ok(sqlx::query_as(
            "SELECT gateway, event_id, outcome, result FROM payment_events WHERE donation_id = $1 ORDER BY received_at, event_id",
        )
        .bind(donation.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim_pending(&self, request: ClaimRequest) -> Result<Vec<ClaimedDonation>, DbError> {
        // SKIP LOCKED: processes claiming at the same moment take different donations.
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "UPDATE donations d SET reconcile_attempts = d.reconcile_attempts + 1, \
             reconcile_after = now() + make_interval(secs => LEAST($2 * power(2, LEAST(d.reconcile_attempts, 12)), 3600)) \
             FROM (SELECT id FROM donations WHERE status = 'pending' \
               AND created_at <= now() - make_interval(secs => $1) \
               AND (reconcile_after IS NULL OR reconcile_after <= now()) \
               ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) AS due \
             WHERE d.id = due.id \
             RETURNING d.id, d.amount_minor, d.currency, d.gateway, d.gateway_reference, \
             CAST(d.reconcile_attempts AS BIGINT) AS reconcile_attempts, \
             CAST(EXTRACT(EPOCH FROM now() - d.created_at) AS BIGINT) AS age_seconds",
        )
        .bind(request.min_age.as_secs_f64())
        .bind(request.lease.as_secs_f64())
        .bind(request.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ClaimedDonation::try_from).collect()
    }

    async fn events_for_review(&self, limit: i64) -> Result<Vec<ReviewEvent>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT gateway, event_id, donation_id, outcome, result, amount_minor, currency, {} AS received_at \
             FROM payment_events WHERE result IN {REVIEW_RESULTS} ORDER BY payment_events.received_at DESC LIMIT $1",
            rfc3339("received_at")
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn gifts_over_time(&self, bucket: TimeBucket, since_unix: i64) -> Result<Vec<GiftCount>, DbError> {
        Ok(sqlx::query_as(&DIALECT.gifts_over_time())
            .bind(bucket.seconds())
            .bind(since_unix)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn gateway_counts(&self) -> Result<Vec<GatewayCounts>, DbError> {
        let rows = sqlx::query_as(reports::GATEWAY_COUNTS).fetch_all(&self.pool).await?;
        Ok(GatewayCounts::from_rows(rows))
    }

    async fn pending_summary(&self) -> Result<PendingSummary, DbError> {
        Ok(sqlx::query_as(&DIALECT.pending_summary()).fetch_one(&self.pool).await?)
    }

    async fn oldest_pending(&self, limit: i64) -> Result<Vec<PendingDonation>, DbError> {
        Ok(sqlx::query_as(&DIALECT.oldest_pending()).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn referral_funnel(&self, limit: i64) -> Result<Vec<ReferralFunnel>, DbError> {
        Ok(sqlx::query_as(&DIALECT.referral_funnel()).bind(limit).fetch_all(&self.pool).await?)
    }

    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A timestamp column as RFC 3339 text in UTC, as SQLite stores them.
fn rfc3339(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

async fn record_result(tx: &mut sqlx::PgConnection, event: &PaymentEvent, result: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE payment_events SET result = $3 WHERE gateway = $1 AND event_id = $2")
        .bind(&event.gateway)
        .bind(event.event_id.as_str())
        .bind(result)
        .execute(tx)
        .await?;
    Ok(())
}

/// Donation writes on a pool connection, batched by `GroupCommit`.
struct PostgresWrites(PgPool);

#[async_trait]
impl WriteBatch for PostgresWrites {
    async fn write_batch(&self, batch: &[Write]) -> Result<Vec<Done>, DbError> {
        let mut tx = self.0.begin().await?;
        let mut done = Vec::with_capacity(batch.len());
        for write in batch {
            done.push(match write {
                Write::Insert(donation, _) => Done::Inserted(insert(&mut tx, donation).await?),
                Write::Checkout(id, checkout, _) => {
                    set_checkout(&mut tx, id, checkout).await?;
                    Done::CheckoutSet
                }
            });
        }
        tx.commit().await?;
        Ok(done)
    }
}

async fn insert(tx: &mut PgConnection, donation: &NewDonation) -> Result<Inserted, DbError> {
    let result = sqlx::query(
        "INSERT INTO donations (id, campaign, amount_minor, currency, status, lang, gateway, idempotency_key, \
         display_name, anonymous, referral_code) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, \
         (SELECT code FROM referral_codes WHERE code = $10 AND campaign = $2)) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(donation.id.as_str())
    .bind(donation.campaign.as_str())
    .bind(donation.amount.get())
    .bind(donation.currency.code())
    .bind(donation.lang.as_str())
    .bind(&donation.gateway)
    .bind(donation.idempotency_key.as_ref().map(|k| k.as_str()))
    .bind(donation.display_name.as_ref().map(|n| n.as_str()))
    .bind(donation.anonymous)
    .bind(donation.referral.as_ref().map(|c| c.as_str()))
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Inserted::New);
    }
    let row: DonationRow =
        sqlx::query_as(&format!("SELECT {DONATION_COLUMNS} FROM donations WHERE idempotency_key = $1"))
            .bind(donation.idempotency_key.as_ref().map(|k| k.as_str()))
            .fetch_one(&mut *tx)
            .await?;
    Ok(Inserted::Existing(row.try_into()?))
}

async fn set_checkout(
    tx: &mut PgConnection,
    id: &DonationId,
    checkout: &group_commit::Checkout,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE donations SET gateway = $2, gateway_reference = $3, checkout_url = $4, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(&checkout.gateway)
    .bind(&checkout.gateway_reference)
    .bind(&checkout.checkout_url)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
