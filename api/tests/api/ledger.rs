//! The ledger property: whatever a gateway sends, in any order, repeated or tampered with, a
//! campaign's stored total is the sum of what its donations count (succeeded and disputed
//! amounts minus refunds; nothing for lost disputes), and no donation is ever refunded beyond
//! its amount or goes back from paid to unpaid.

use std::collections::HashMap;

use api::db::{NewDonation, PaymentEvent, Store};
use api::domain::{AmountMinor, CampaignSlug, Currency, DonationId, GatewayEventId, Language, Outcome};
use proptest::prelude::*;

use crate::helpers::{Backend, TestDatabase, config_path};

/// One thing a gateway might say.
#[derive(Debug, Clone)]
enum Said {
    /// A new event about donation `donation` (by index).
    Event { donation: usize, outcome: OutcomeKind, tamper_amount: bool },
    /// The `nth` earlier event again, with its id (a replay).
    Replay { nth: usize },
    /// An event about a donation we never stored.
    Stray,
}

#[derive(Debug, Clone, Copy)]
enum OutcomeKind {
    Succeeded,
    Failed,
    Expired,
    /// Refunded so far, as a share (per mille) of the amount; above 1000 is over the amount.
    Refunded(i64),
    DisputeOpened,
    DisputeWon,
    DisputeLost,
}

fn outcome_kind() -> impl Strategy<Value = OutcomeKind> {
    prop_oneof![
        3 => Just(OutcomeKind::Succeeded),
        2 => Just(OutcomeKind::Failed),
        1 => Just(OutcomeKind::Expired),
        3 => (1i64..=1100).prop_map(OutcomeKind::Refunded),
        1 => Just(OutcomeKind::DisputeOpened),
        1 => Just(OutcomeKind::DisputeWon),
        1 => Just(OutcomeKind::DisputeLost),
    ]
}

fn said(donations: usize) -> impl Strategy<Value = Said> {
    prop_oneof![
        8 => (0..donations, outcome_kind(), proptest::bool::weighted(0.1))
            .prop_map(|(donation, outcome, tamper_amount)| Said::Event { donation, outcome, tamper_amount }),
        2 => (0usize..64).prop_map(|nth| Said::Replay { nth }),
        1 => Just(Said::Stray),
    ]
}

fn history() -> impl Strategy<Value = (Vec<i64>, Vec<Said>)> {
    proptest::collection::vec(1i64..=50_000, 1..5).prop_flat_map(|amounts| {
        let count = amounts.len();
        (Just(amounts), proptest::collection::vec(said(count), 1..30))
    })
}

fn outcome(kind: OutcomeKind, amount: i64) -> Outcome {
    match kind {
        OutcomeKind::Succeeded => Outcome::Succeeded,
        OutcomeKind::Failed => Outcome::Failed,
        OutcomeKind::Expired => Outcome::Expired,
        OutcomeKind::Refunded(per_mille) => Outcome::Refunded { total_refunded: (amount * per_mille / 1000).max(1) },
        OutcomeKind::DisputeOpened => Outcome::DisputeOpened,
        OutcomeKind::DisputeWon => Outcome::DisputeWon,
        OutcomeKind::DisputeLost => Outcome::DisputeLost,
    }
}

async fn play(store: &dyn Store, amounts: &[i64], said: &[Said], case: usize) {
    let usd = Currency::parse("USD").unwrap();
    let mut ids = Vec::new();
    for (index, amount) in amounts.iter().enumerate() {
        let id = DonationId::generate();
        store
            .insert_donation(&NewDonation {
                id: id.clone(),
                campaign: CampaignSlug::stored("water".into()),
                amount: AmountMinor::parse(*amount).unwrap(),
                currency: usd,
                lang: Language::stored("en".into()),
                gateway: "sandbox".into(),
                idempotency_key: None,
                display_name: None,
                anonymous: index % 2 == 0,
                referral: None,
            })
            .await
            .unwrap();
        ids.push(id);
    }
    let mut sent: Vec<PaymentEvent> = Vec::new();
    let mut paid_before: HashMap<usize, bool> = HashMap::new();
    for (step, said) in said.iter().enumerate() {
        let event = match said {
            Said::Event { donation, outcome: kind, tamper_amount } => PaymentEvent {
                gateway: "sandbox".into(),
                event_id: GatewayEventId::parse(&format!("case{case}-step{step}")).unwrap(),
                donation_id: ids[*donation].clone(),
                outcome: outcome(*kind, amounts[*donation]),
                amount: AmountMinor::parse(amounts[*donation] + i64::from(*tamper_amount)).unwrap(),
                currency: usd,
                gateway_reference: None,
            },
            Said::Replay { nth } if !sent.is_empty() => sent[nth % sent.len()].clone(),
            Said::Replay { .. } | Said::Stray => PaymentEvent {
                gateway: "sandbox".into(),
                event_id: GatewayEventId::parse(&format!("case{case}-stray{step}")).unwrap(),
                donation_id: DonationId::generate(),
                outcome: Outcome::Succeeded,
                amount: AmountMinor::parse(100).unwrap(),
                currency: usd,
                gateway_reference: None,
            },
        };
        store.apply_event(&event).await.unwrap();
        sent.push(event);

        // Paid stays paid.
        for (index, id) in ids.iter().enumerate() {
            let status = store.donation(id).await.unwrap().unwrap().status;
            let was = paid_before.insert(index, status.was_paid()).unwrap_or(false);
            assert!(!was || status.was_paid(), "donation {index} went from paid back to {status}");
        }
    }
}

/// Checks the stored totals against the donation rows.
async fn check_ledger(store: &dyn Store, database_url: &str) {
    let (counted, donors): (i64, i64) = if database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        let row = sqlx::query_as(LEDGER).fetch_one(&pool).await.unwrap();
        pool.close().await;
        row
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        let row = sqlx::query_as(LEDGER).fetch_one(&pool).await.unwrap();
        pool.close().await;
        row
    };
    let stored = store.campaign_totals().await.unwrap().into_iter().find(|t| t.slug == "water").unwrap();
    assert_eq!((stored.raised_minor, stored.donors), (counted, donors));
}

/// What the donations count, straight from their rows.
const LEDGER: &str = "SELECT CAST(COALESCE(SUM(amount_minor - refunded_minor), 0) AS BIGINT), \
     CAST(COUNT(*) AS BIGINT) FROM donations \
     WHERE campaign = 'water' AND status IN ('succeeded', 'refunded', 'disputed') AND refunded_minor < amount_minor";

fn run(backend: Backend, cases: u32) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some((database, store)) = runtime.block_on(async {
        let database = TestDatabase::create(backend).await?;
        let store = api::db::connect(&database.url).await.unwrap();
        let campaigns = campaigns::Campaigns::load(&config_path("site_config.toml")).unwrap();
        store.sync_campaigns(&campaigns).await.unwrap();
        Some((database, store))
    }) else {
        return;
    };
    // Event ids must differ between cases, which share one database.
    let case = std::sync::atomic::AtomicUsize::new(0);
    proptest!(ProptestConfig::with_cases(cases), |((amounts, said) in history())| {
        let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        runtime.block_on(async {
            play(store.as_ref(), &amounts, &said, case).await;
            check_ledger(store.as_ref(), &database.url).await;
        });
    });
}

#[test]
fn the_total_is_what_the_donations_count_on_sqlite() {
    run(Backend::Sqlite, 128);
}

#[test]
fn the_total_is_what_the_donations_count_on_postgres() {
    run(Backend::Postgres, 48);
}
