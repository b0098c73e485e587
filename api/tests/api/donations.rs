use api::domain::DonationStatus;
use reqwest::StatusCode;

use crate::helpers::{TestApp, location, param};
use crate::on_both_databases;

on_both_databases!(
    a_donation_form_is_stored_as_pending_and_sent_to_the_gateway,
    amounts_use_the_currencys_own_minor_units,
    bad_donation_forms_get_a_readable_page_and_store_nothing,
    bad_json_donations_get_problem_details,
    retrying_with_the_same_idempotency_key_returns_the_same_payment,
    reusing_an_idempotency_key_for_another_gift_is_a_conflict,
    a_retry_after_the_gift_settled_goes_to_the_result_page,
    a_typed_amount_wins_over_a_chosen_one_and_the_donor_chooses_how_to_appear,
);

async fn a_donation_form_is_stored_as_pending_and_sent_to_the_gateway(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", "25.50"), ("lang", "ar")]).await;

    assert_eq!(hosted_page.path(), "/sandbox/pay");
    assert_eq!(param(&hosted_page, "amount_minor"), "2550");
    assert_eq!(param(&hosted_page, "currency"), "USD");
    let donation = app.donation(&hosted_page).await;
    assert_eq!(donation.status, DonationStatus::Pending);
    assert_eq!(donation.amount.get(), 2550);
    assert_eq!(donation.lang.as_str(), "ar");
    assert_eq!(donation.checkout_url.as_deref(), Some(hosted_page.as_str()));
}

async fn amounts_use_the_currencys_own_minor_units(app: TestApp) {
    let hosted_page = app.start_donation(&[("campaign", "schools"), ("amount", "1500")]).await;
    assert_eq!(param(&hosted_page, "amount_minor"), "1500");
    assert_eq!(param(&hosted_page, "currency"), "JPY");
    let refused = app.post_form(&[("campaign", "schools"), ("amount", "1500.5")]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("JPY amounts have at most 0 decimal places"));

    // Kuwaiti dinars have three decimals: 12.345 KWD is 12345 fils, typed in Arabic-Indic digits too.
    let hosted_page = app.start_donation(&[("campaign", "wells"), ("amount", "12.345")]).await;
    assert_eq!((param(&hosted_page, "amount_minor"), param(&hosted_page, "currency")), ("12345".into(), "KWD".into()));
    let hosted_page = app.start_donation(&[("campaign", "wells"), ("other_amount", "١٢٫٥")]).await;
    assert_eq!(param(&hosted_page, "amount_minor"), "12500");
    let refused = app.post_form(&[("campaign", "wells"), ("amount", "1.2345")]).await;
    assert_eq!(refused.status(), 422);
}

async fn bad_donation_forms_get_a_readable_page_and_store_nothing(app: TestApp) {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("campaign", "nope"), ("amount", "25")], "There is no campaign called &quot;nope&quot;"),
        (&[("campaign", "water"), ("amount", "0")], "more than zero"),
        (&[("campaign", "water"), ("amount", "-5")], "is not an amount"),
        (&[("campaign", "water"), ("amount", "abc")], "is not an amount"),
        (&[("campaign", "water"), ("amount", "")], "Please enter an amount"),
        (&[("campaign", "water"), ("amount", "1e3")], "is not an amount"),
        (&[("campaign", "water"), ("amount", "25.555")], "at most 2 decimal places"),
        (&[("campaign", "water"), ("amount", "0.50")], "smallest gift is 1 USD"),
        (&[("campaign", "water"), ("amount", "999999999999")], "largest gift online is 500 USD"),
        (&[("campaign", "water"), ("amount", "99999999999999999999999")], "too large"),
        (&[("campaign", "water"), ("amount", "25"), ("currency", "EUR")], "takes gifts in USD, not EUR"),
        (&[("campaign", "water")], "Please enter an amount"),
        (
            &[("campaign", "water"), ("amount", "25"), ("display_name", &"x".repeat(61))],
            "keep the name to 60 characters",
        ),
    ];
    for (fields, message) in cases {
        let response = app.post_form(fields).await;
        assert_eq!(response.status(), 422, "{fields:?}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{fields:?}: expected {message:?} in {page}");
    }
    assert_eq!(app.stored_totals("water").await.version, 0);
}

async fn bad_json_donations_get_problem_details(app: TestApp) {
    let response = app.post_json(serde_json::json!({ "campaign": "water", "amount": -1 })).await;
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("not an amount"), "{problem}");

    let created = app.post_json(serde_json::json!({ "campaign": "water", "amount": 25.5 })).await;
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert!(body["redirect_url"].as_str().unwrap().contains("amount_minor=2550"));
}

async fn retrying_with_the_same_idempotency_key_returns_the_same_payment(app: TestApp) {
    let fields = [("campaign", "water"), ("amount", "25"), ("idempotency_key", "retry-1")];
    let first = app.start_donation(&fields).await;
    let again = app.start_donation(&fields).await;
    assert_eq!(first, again);
    let by_header = app
        .client
        .post(app.at("/api/v1/donations"))
        .header("idempotency-key", "retry-1")
        .form(&[("campaign", "water"), ("amount", "25")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&by_header), first);
}

async fn reusing_an_idempotency_key_for_another_gift_is_a_conflict(app: TestApp) {
    app.start_donation(&[("campaign", "water"), ("amount", "25"), ("idempotency_key", "k")]).await;
    let response = app.post_form(&[("campaign", "water"), ("amount", "30"), ("idempotency_key", "k")]).await;
    assert_eq!(response.status(), 409);
}

async fn a_retry_after_the_gift_settled_goes_to_the_result_page(app: TestApp) {
    let fields = [("campaign", "water"), ("amount", "25"), ("idempotency_key", "settled-1")];
    let hosted_page = app.start_donation(&fields).await;
    let return_url = app.choose_on_hosted_page(&hosted_page, "paid").await;
    app.return_from_gateway(&return_url).await;

    let retry = app.post_form(&fields).await;

    assert_eq!(retry.status(), 303);
    assert_eq!(location(&retry).as_str(), "https://site.test/thank-you/");
}

async fn a_typed_amount_wins_over_a_chosen_one_and_the_donor_chooses_how_to_appear(app: TestApp) {
    let fields = [
        ("campaign", "water"),
        ("amount", "50"),
        ("other_amount", " 12.50 "),
        ("display_name", " Amina  K. "),
        ("anonymous", "on"),
    ];
    let hosted_page = app.start_donation(&fields).await;
    let chosen = app.start_donation(&[("campaign", "water"), ("amount", "50"), ("other_amount", "")]).await;

    assert_eq!(param(&hosted_page, "amount_minor"), "1250");
    let donation = app.donation(&hosted_page).await;
    assert_eq!(donation.display_name.as_deref(), Some("Amina K."));
    assert!(donation.anonymous);
    let plain = app.donation(&chosen).await;
    assert_eq!(plain.amount.get(), 5000);
    assert_eq!((plain.display_name, plain.anonymous), (None, false));
}

on_both_databases!(a_double_click_opens_one_payment);

async fn a_double_click_opens_one_payment(app: TestApp) {
    let fields = [("campaign", "water"), ("amount", "25"), ("idempotency_key", "double-click-1")];
    let (first, second) = tokio::join!(app.post_form(&fields), app.post_form(&fields));

    assert_eq!((first.status(), second.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    assert_eq!(location(&first), location(&second), "both clicks lead to the same payment");
    let export = app
        .client
        .get(app.at("/api/v1/admin/donations.csv"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(export.lines().count(), 2, "one header and one donation: {export}");
}
