//! Several API processes on one PostgreSQL, each running the reconciler: every pending
//! donation is asked about and settled once, by one of them.

use std::time::Duration;

use api::domain::DonationStatus;
use reqwest::StatusCode;

use crate::helpers::{Backend, location, param, spawn_app_with, spawn_sibling};

/// Both reconcilers look every second at donations two seconds old, and give up on unpaid
/// ones at once, so each round expires what it claims.
fn racing_reconciler(settings: &mut api::Settings) {
    settings.reconcile_interval_seconds = 1;
    settings.reconcile_after_seconds = 2;
    settings.abandon_after_seconds = 0;
}

#[tokio::test]
async fn two_processes_sharing_postgres_reconcile_each_pending_donation_once() {
    let Some(first) = spawn_app_with(Backend::Postgres, racing_reconciler).await else {
        return;
    };
    let second = spawn_sibling(&first, racing_reconciler).await;

    let mut ids = Vec::new();
    for (index, app) in [&first, &second].iter().cycle().take(60).enumerate() {
        let response = app.post_form(&[("campaign", "water"), ("amount", &(index + 1).to_string())]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        ids.push(param(&location(&response), "merchant_reference"));
    }

    let pool = sqlx::PgPool::connect(first.database_url()).await.unwrap();
    let mut settled = false;
    for _ in 0..150 {
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM donations WHERE status = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "the reconcilers left donations pending");

    let attempts: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT d.id, d.reconcile_attempts, (SELECT COUNT(*) FROM payment_events e WHERE e.donation_id = d.id) \
         FROM donations d ORDER BY d.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(attempts.len(), ids.len());
    for (id, claims, events) in &attempts {
        assert_eq!((*claims, *events), (1, 1), "donation {id} was claimed {claims} times with {events} events");
    }
    for app in [&first, &second] {
        let donation = app.store.donation(&api::domain::DonationId::parse(&ids[0]).unwrap()).await.unwrap().unwrap();
        assert_eq!(donation.status, DonationStatus::Expired);
    }
    pool.close().await;
}
