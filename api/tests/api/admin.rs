use api::db::NewDonation;
use api::domain::{AmountMinor, CampaignSlug, Currency, DonationId, Language};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, spawn_app_with};
use crate::on_both_databases;
use crate::referrals::pay;

on_both_databases!(
    admin_routes_refuse_anyone_without_the_token,
    an_offline_gift_counts_in_the_totals_once_however_often_it_is_sent,
    the_csv_export_lists_every_donation_across_pages,
);

fn offline_gift() -> serde_json::Value {
    serde_json::json!({ "campaign": "water", "amount": "250", "method": "cheque", "display_name": "Parish of St Anne" })
}

async fn admin_routes_refuse_anyone_without_the_token(app: TestApp) {
    pay(&app, &[("campaign", "water"), ("amount", "30"), ("display_name", "Secret Donor")], None).await;
    for token in [None, Some("wrong"), Some("")] {
        let mut export = app.client.get(app.at("/api/v1/admin/donations.csv"));
        let mut gift = app.client.post(app.at("/api/v1/admin/donations")).json(&offline_gift());
        if let Some(token) = token {
            export = export.bearer_auth(token);
            gift = gift.bearer_auth(token);
        }
        for response in [export.send().await.unwrap(), gift.send().await.unwrap()] {
            assert_eq!(response.status(), 401, "{token:?}");
            let challenges: Vec<&str> =
                response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
            assert_eq!(challenges, [r#"Basic realm="Pledge admin", charset="UTF-8""#, "Bearer"], "one per line");
            assert!(!response.text().await.unwrap().contains("Secret Donor"));
        }
    }
    assert_eq!(app.stored_totals("water").await.raised_minor, 3000, "nothing was recorded");
}

/// Without a configured token the admin routes do not exist at all.
#[tokio::test]
async fn admin_routes_are_absent_without_a_configured_token() {
    let app = spawn_app_with(Backend::Sqlite, |settings| settings.admin_token = None).await.unwrap();
    let response = app.client.get(app.at("/api/v1/admin/donations.csv")).bearer_auth("anything").send().await.unwrap();
    assert_eq!(response.status(), 404);
}

async fn an_offline_gift_counts_in_the_totals_once_however_often_it_is_sent(app: TestApp) {
    let send = || {
        app.client
            .post(app.at("/api/v1/admin/donations"))
            .bearer_auth(ADMIN_TOKEN)
            .header("idempotency-key", "cheque-0042")
            .json(&offline_gift())
            .send()
    };
    let first = send().await.unwrap();
    let again = send().await.unwrap();

    assert_eq!(first.status(), 201);
    let (first, again): (serde_json::Value, serde_json::Value) =
        (first.json().await.unwrap(), again.json().await.unwrap());
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["status"], "succeeded");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (25_000, 1));
    let totals = app.wait_for_raised("water", 25_000).await;
    assert_eq!(totals["recent"][0]["name"], "Parish of St Anne");
    let bad = app
        .client
        .post(app.at("/api/v1/admin/donations"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "campaign": "water", "amount": "250", "method": "bitcoin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

async fn the_csv_export_lists_every_donation_across_pages(app: TestApp) {
    pay(&app, &[("campaign", "water"), ("amount", "30"), ("display_name", "Amina, \"the\" donor")], None).await;
    app.start_donation(&[("campaign", "water"), ("amount", "12.50")]).await;
    let campaigns = campaigns::Campaigns::load(&crate::helpers::config_path("site_config.toml")).unwrap();
    let water = CampaignSlug::parse("water", &campaigns).unwrap();
    // Past one page of the export (1000 rows), straight into storage to keep the test quick.
    for _ in 0..1000 {
        let gift = NewDonation {
            id: DonationId::generate(),
            campaign: water.clone(),
            amount: AmountMinor::parse(100).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            lang: Language::parse(None, &campaigns),
            gateway: "offline-cash".into(),
            idempotency_key: None,
            display_name: None,
            anonymous: false,
            referral: None,
        };
        app.store.record_offline_gift(&gift).await.unwrap();
    }

    let response = app.client.get(app.at("/api/v1/admin/donations.csv")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().get(5), Some("amount_minor"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1002);
    let mut ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1002, "no row twice");
    let named = rows.iter().find(|r| &r[9] == "Amina, \"the\" donor").expect("quotes and commas survive");
    assert_eq!((&named[4], &named[5], &named[6]), ("succeeded", "3000", "USD"));
    assert!(rows.iter().any(|r| &r[4] == "pending" && &r[5] == "1250"));
}
