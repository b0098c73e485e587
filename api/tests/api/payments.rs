use api::domain::DonationStatus;
use api::gateway::sandbox::protocol::unix_now;
use api::gateway::sandbox::{NotificationBody, PaymentStatus};

use crate::helpers::{SECRET, TestApp, param};
use crate::{on_both_databases, on_both_databases_with};

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
        refunded_minor: None,
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

on_both_databases!(
    a_donor_who_goes_back_from_the_gateway_sees_the_failed_page_and_the_gift_stays_open,
    a_notification_delivered_twice_counts_once,
    partial_then_full_refunds_take_the_gift_back_out_of_the_total,
    a_lost_dispute_takes_the_money_back_and_a_won_one_keeps_it,
    a_refund_heard_before_the_success_counts_what_is_left,
    an_event_for_an_unknown_donation_is_kept_for_review,
);

on_both_databases_with!(watchful_reconciler; the_reconciler_settles_a_payment_whose_notification_is_late);
on_both_databases_with!(impatient_reconciler; the_reconciler_expires_an_abandoned_payment);

/// A reconciler that asks every second about anything pending.
fn watchful_reconciler(settings: &mut api::Settings) {
    settings.reconcile_interval_seconds = 1;
    settings.reconcile_after_seconds = 0;
}

/// …and gives up on a payment at once.
fn impatient_reconciler(settings: &mut api::Settings) {
    watchful_reconciler(settings);
    settings.abandon_after_seconds = 0;
}

fn refund(hosted_page: &url::Url, event_id: &str, refunded_minor: i64) -> NotificationBody {
    NotificationBody {
        refunded_minor: Some(refunded_minor),
        ..notification(hosted_page, event_id, PaymentStatus::Refunded, 4000)
    }
}

async fn notify(app: &TestApp, body: &NotificationBody) -> String {
    let response = app.send_notification(body, unix_now(), SECRET).await;
    assert_eq!(response.status(), 200);
    response.json::<serde_json::Value>().await.unwrap()["result"].as_str().unwrap().to_string()
}

async fn a_donor_who_goes_back_from_the_gateway_sees_the_failed_page_and_the_gift_stays_open(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "cancelled").await;

    assert_eq!(app.return_from_gateway(&return_url).await.as_str(), "https://site.test/failed/");
    let donation = app.donation(&hosted_page).await;
    assert_eq!(donation.status, DonationStatus::Pending, "no verdict yet: the donor may still pay");
    assert!(app.events(&donation).await.is_empty());
}

async fn a_notification_delivered_twice_counts_once(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "paid_twice").await;
    app.return_from_gateway(&return_url).await;

    let donation = app.donation(&hosted_page).await;
    // The return, then one notification on record: the copy is recognised, not stored again.
    app.wait_for_events(&donation, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.events(&donation).await.len(), 2);
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (4000, 1));
}

async fn partial_then_full_refunds_take_the_gift_back_out_of_the_total(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    assert_eq!(notify(&app, &notification(&hosted_page, "evt_paid", PaymentStatus::Paid, 4000)).await, "applied");

    assert_eq!(notify(&app, &refund(&hosted_page, "evt_refund_1", 1500)).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1), "a partial refund keeps the donor");
    let donation = app.donation(&hosted_page).await;
    assert_eq!((donation.status, donation.refunded), (DonationStatus::Succeeded, 1500));

    // An older notice arriving late changes nothing; the full refund takes the rest.
    assert_eq!(notify(&app, &refund(&hosted_page, "evt_refund_0", 1000)).await, "unchanged");
    assert_eq!(notify(&app, &refund(&hosted_page, "evt_refund_2", 4000)).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (0, 0));
    assert_eq!(app.donation(&hosted_page).await.status, DonationStatus::Refunded);

    assert_eq!(notify(&app, &refund(&hosted_page, "evt_refund_3", 4001)).await, "stored for review");
}

async fn a_lost_dispute_takes_the_money_back_and_a_won_one_keeps_it(app: TestApp) {
    let lost = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    let won = app.start_donation(&[("campaign", "water"), ("amount", "10")]).await;
    notify(&app, &notification(&lost, "evt_lost_paid", PaymentStatus::Paid, 4000)).await;
    notify(&app, &notification(&won, "evt_won_paid", PaymentStatus::Paid, 1000)).await;

    notify(&app, &notification(&lost, "evt_lost_open", PaymentStatus::DisputeOpened, 4000)).await;
    notify(&app, &notification(&won, "evt_won_open", PaymentStatus::DisputeOpened, 1000)).await;
    assert_eq!(app.stored_totals("water").await.raised_minor, 5000, "disputed money counts until lost");
    assert_eq!(app.donation(&lost).await.status, DonationStatus::Disputed);

    notify(&app, &notification(&lost, "evt_lost_closed", PaymentStatus::DisputeLost, 4000)).await;
    notify(&app, &notification(&won, "evt_won_closed", PaymentStatus::DisputeWon, 1000)).await;
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (1000, 1));
    assert_eq!(app.donation(&lost).await.status, DonationStatus::ChargedBack);
    assert_eq!(app.donation(&won).await.status, DonationStatus::Succeeded);
}

async fn a_refund_heard_before_the_success_counts_what_is_left(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    assert_eq!(notify(&app, &refund(&hosted_page, "evt_refund_first", 1000)).await, "applied");
    assert_eq!(
        notify(&app, &notification(&hosted_page, "evt_paid_late", PaymentStatus::Paid, 4000)).await,
        "unchanged"
    );

    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (3000, 1));
}

async fn an_event_for_an_unknown_donation_is_kept_for_review(app: TestApp) {
    let mut body = notification(
        &url::Url::parse("https://x.test/?merchant_reference=x").unwrap(),
        "evt_stray",
        PaymentStatus::Paid,
        4000,
    );
    body.merchant_reference = api::domain::DonationId::generate().as_str().to_string();

    assert_eq!(notify(&app, &body).await, "unknown donation, stored for review");

    let review = app.store.events_for_review(10).await.unwrap();
    assert_eq!(review.len(), 1);
    assert_eq!((review[0].event_id.as_str(), review[0].amount_minor), ("evt_stray", Some(4000)));
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn the_reconciler_settles_a_payment_whose_notification_is_late(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;
    // Paid at the gateway, but the donor never comes back and the notification is held back:
    // only the reconciler's question can settle it before the notification arrives.
    let _ = app.choose_on_hosted_page(&hosted_page, "paid_late").await;

    let donation = app.donation(&hosted_page).await;
    let events = app.wait_for_events(&donation, 1).await;
    assert!(events[0].event_id.starts_with("status-"), "{events:?}");
    assert_eq!(events[0].result, "succeeded");
    let events = app.wait_for_events(&donation, 2).await;
    assert_eq!(events[1].result, "unchanged", "the late notification changes nothing: {events:?}");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (4000, 1));
}

async fn the_reconciler_expires_an_abandoned_payment(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "40")]).await;

    let donation = app.donation(&hosted_page).await;
    let events = app.wait_for_events(&donation, 1).await;
    assert_eq!(events[0].result, "expired");
    assert_eq!(app.donation(&hosted_page).await.status, DonationStatus::Expired);
}
