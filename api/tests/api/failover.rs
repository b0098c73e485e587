//! Routing and failover: a gateway that cannot start payments loses its donors to the next one
//! in the rule at once, and, once its error rate crosses the line, is not tried at all.

use api::domain::DonationStatus;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_TOKEN, TestApp, location};
use crate::on_both_databases_with;

on_both_databases_with!(stripe_down; a_gateway_that_cannot_start_payments_is_failed_over_then_avoided);

/// Stripe preferred, but its API is unreachable (nothing listens on port 9 here); the sandbox
/// has no weight of its own and stands by.
fn stripe_down(settings: &mut api::Settings) {
    settings.stripe_secret_key = Some("sk_test_failover".to_string().into());
    settings.stripe_webhook_secret = Some("whsec_failover".to_string().into());
    settings.stripe_api_base = url::Url::parse("http://127.0.0.1:9/").unwrap();
    settings.gateway_routes = Some("*=stripe:100,sandbox:0".into());
    settings.failover_min_samples = 3;
    settings.failover_max_error_rate = 0.5;
}

async fn payments_health(app: &TestApp) -> serde_json::Value {
    let response = app.client.get(app.at("/api/v1/admin/payments")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn a_gateway_that_cannot_start_payments_is_failed_over_then_avoided(app: TestApp) {
    let before = payments_health(&app).await;
    assert_eq!(before["routing"][0]["gateways"][0]["gateway"], "stripe");
    assert_eq!(before["routing"][0]["gateways"][0]["healthy"], true);

    for amount in ["10", "11", "12", "13"] {
        let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", amount)]).await;
        assert!(hosted_page.path().ends_with("/sandbox/pay"), "sent to {hosted_page}");
        let donation = app.donation(&hosted_page).await;
        assert_eq!((donation.gateway.as_str(), donation.status), ("sandbox", DonationStatus::Pending));
    }

    let after = payments_health(&app).await;
    let stripe = &after["gateways"][0];
    assert_eq!(stripe["gateway"], "stripe");
    // Three failed starts made it unhealthy; the fourth donation never tried it.
    assert_eq!((stripe["starts"].as_u64(), stripe["start_errors"].as_u64()), (Some(3), Some(3)), "{after}");
    assert_eq!(stripe["healthy"], false);
    assert!(stripe["reason"].as_str().unwrap().contains("checkout starts failed"), "{after}");
    assert_eq!(after["gateways"][1]["starts"], 4);
    assert_eq!(after["routing"][0]["gateways"][0]["healthy"], false);

    // Paying through the gateway it failed over to works as ever.
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "20")]).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "paid").await;
    assert_eq!(location_of(&app, &return_url).await, "https://site.test/thank-you/");
}

async fn location_of(app: &TestApp, url: &url::Url) -> String {
    let response = app.client.get(url.clone()).send().await.unwrap();
    location(&response).to_string()
}
