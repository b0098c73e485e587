use api::domain::DonationStatus;
use api::gateway::sandbox::protocol::unix_now;
use api::gateway::sandbox::{NotificationBody, PaymentStatus};

use crate::helpers::{SECRET, TestApp, param};
use crate::on_both_databases;

on_both_databases!(
    paying_moves_the_total_once_though_return_and_notification_both_arrive,
    declining_leads_to_the_failed_page_and_moves_nothing,
    arabic_donors_come_back_to_arabic_pages,
    a_tampered_return_is_refused_and_changes_nothing,
    a_replayed_notification_changes_nothing,
    forged_and_stale_notifications_are_refused,
    a_notification_for_another_amount_is_kept_for_review_and_moves_nothing,
    a_late_failure_never_undoes_a_success,
);

fn notification(hosted_page: &url::Url, event_id: &str, status: PaymentStatus, amount_minor: i64) -> NotificationBody {
    NotificationBody {
        event_id: event_id.into(),
        payment_id: format!("pay_{event_id}"),
        merchant_reference: param(hosted_page, "merchant_reference"),
        status,
        amount_minor,
        currency: "USD".into(),
    }
}

async fn paying_moves_the_total_once_though_return_and_notification_both_arrive(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "paid").await;
    let result_page = app.return_from_gateway(&return_url).await;

    assert_eq!(result_page.as_str(), "https://site.test/thank-you/");
    let donation = app.donation(&hosted_page).await;
    let events = app.wait_for_events(&donation, 2).await;
    let results: Vec<&str> = events.iter().map(|e| e.result.as_str()).collect();
    assert!(results.contains(&"succeeded") && results.contains(&"unchanged"), "{results:?}");
    assert_eq!(donation.status, DonationStatus::Succeeded);
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (4000, 1));
    let totals = app.wait_for_raised("water", 4000).await;
    assert_eq!(totals["donors"], 1);
}

async fn declining_leads_to_the_failed_page_and_moves_nothing(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "declined").await;
    let result_page = app.return_from_gateway(&return_url).await;

    assert_eq!(result_page.as_str(), "https://site.test/failed/");
    let donation = app.donation(&hosted_page).await;
    app.wait_for_events(&donation, 2).await;
    assert_eq!(app.donation(&hosted_page).await.status, DonationStatus::Failed);
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (0, 0));
}

async fn arabic_donors_come_back_to_arabic_pages(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "10"), ("lang", "ar")]).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "paid").await;
    assert_eq!(app.return_from_gateway(&return_url).await.as_str(), "https://site.test/ar/thank-you/");
}

async fn a_tampered_return_is_refused_and_changes_nothing(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let declined = app.choose_on_hosted_page(&hosted_page, "declined").await;
    let forged = declined.as_str().replace("status=declined", "status=paid");

    let response = app.client.get(forged).send().await.unwrap();

    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("not signed by the gateway"));
    let donation = app.donation(&hosted_page).await;
    app.wait_for_events(&donation, 1).await;
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_replayed_notification_changes_nothing(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let body = notification(&hosted_page, "evt_replayed", PaymentStatus::Paid, 4000);

    let first = app.send_notification(&body, unix_now(), SECRET).await;
    let second = app.send_notification(&body, unix_now(), SECRET).await;

    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<serde_json::Value>().await.unwrap()["result"], "applied");
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<serde_json::Value>().await.unwrap()["result"], "duplicate");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (4000, 1));
}

async fn forged_and_stale_notifications_are_refused(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let body = notification(&hosted_page, "evt_forged", PaymentStatus::Paid, 4000);

    let forged = app.send_notification(&body, unix_now(), "not-the-secret").await;
    let stale = app.send_notification(&body, unix_now() - 3600, SECRET).await;
    let unsigned = app.client.post(app.at("/api/v1/payments/sandbox/webhook")).json(&body).send().await.unwrap();

    for response in [forged, stale, unsigned] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let donation = app.donation(&hosted_page).await;
    assert!(app.events(&donation).await.is_empty());
    assert_eq!(donation.status, DonationStatus::Pending);
}

async fn a_notification_for_another_amount_is_kept_for_review_and_moves_nothing(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let body = notification(&hosted_page, "evt_wrong_amount", PaymentStatus::Paid, 1);

    let response = app.send_notification(&body, unix_now(), SECRET).await;

    assert_eq!(response.status(), 200);
    let donation = app.donation(&hosted_page).await;
    assert_eq!(donation.status, DonationStatus::Pending);
    let events = app.events(&donation).await;
    assert_eq!(events.len(), 1);
    assert!(events[0].result.contains("mismatch"), "{events:?}");
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_late_failure_never_undoes_a_success(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    app.send_notification(&notification(&hosted_page, "evt_ok", PaymentStatus::Paid, 4000), unix_now(), SECRET).await;
    app.send_notification(&notification(&hosted_page, "evt_late", PaymentStatus::Declined, 4000), unix_now(), SECRET)
        .await;

    assert_eq!(app.donation(&hosted_page).await.status, DonationStatus::Succeeded);
    assert_eq!(app.stored_totals("water").await.raised_minor, 4000);
}
