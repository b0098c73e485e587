//! The operators' dashboard: it refuses strangers without leaking anything, and its numbers are
//! the database's for a seeded history with a partial refund, a lost dispute, a decline and an
//! abandoned payment.

use api::gateway::sandbox::protocol::unix_now;
use api::gateway::sandbox::{NotificationBody, PaymentStatus};
use reqwest::StatusCode;

use crate::helpers::{ADMIN_TOKEN, Backend, SECRET, TestApp, param, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(the_dashboard_refuses_strangers_and_leaks_nothing, the_dashboard_shows_what_the_database_holds);

async fn notify(app: &TestApp, hosted_page: &url::Url, event: &str, status: PaymentStatus, refunded: Option<i64>) {
    let body = NotificationBody {
        event_id: event.into(),
        payment_id: format!("pay_{event}"),
        merchant_reference: param(hosted_page, "merchant_reference"),
        status,
        amount_minor: param(hosted_page, "amount_minor").parse().unwrap(),
        currency: "USD".into(),
        refunded_minor: refunded,
    };
    let response = app.send_notification(&body, unix_now(), SECRET).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Five gifts: two kept (one partly refunded), one charged back, one declined, one abandoned.
async fn seed(app: &TestApp) {
    let named = app.start_donation(&[("campaign", "water"), ("amount", "40"), ("display_name", "Amina")]).await;
    notify(app, &named, "e1", PaymentStatus::Paid, None).await;
    let refunded = app.start_donation(&[("campaign", "water"), ("amount", "10"), ("anonymous", "on")]).await;
    notify(app, &refunded, "e2", PaymentStatus::Paid, None).await;
    notify(app, &refunded, "e3", PaymentStatus::Refunded, Some(400)).await;
    let disputed = app.start_donation(&[("campaign", "water"), ("amount", "25")]).await;
    notify(app, &disputed, "e4", PaymentStatus::Paid, None).await;
    notify(app, &disputed, "e5", PaymentStatus::DisputeLost, None).await;
    let declined = app.start_donation(&[("campaign", "water"), ("amount", "15")]).await;
    notify(app, &declined, "e6", PaymentStatus::Declined, None).await;
    app.start_donation(&[("campaign", "water"), ("amount", "5")]).await;
}

async fn the_dashboard_refuses_strangers_and_leaks_nothing(app: TestApp) {
    seed(&app).await;
    for path in ["/admin/", "/api/v1/admin/dashboard.json", "/api/v1/admin/dashboard/gateways.csv"] {
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        let body = anonymous.text().await.unwrap();
        assert!(!body.contains("Amina") && !body.contains("4600") && !body.contains("sandbox"), "{body}");

        let wrong = app.client.get(app.at(path)).basic_auth("admin", Some("guess")).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let right = app.client.get(app.at(path)).basic_auth("admin", Some(ADMIN_TOKEN)).send().await.unwrap();
        assert_eq!(right.status(), StatusCode::OK, "{path}");
        assert_eq!(right.headers()["cache-control"], "no-store");
    }
}

async fn the_dashboard_shows_what_the_database_holds(app: TestApp) {
    seed(&app).await;
    app.wait_for_raised("water", 4600).await;

    let dashboard: serde_json::Value = app
        .client
        .get(app.at("/api/v1/admin/dashboard.json"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let water = dashboard["campaigns"].as_array().unwrap().iter().find(|c| c["slug"] == "water").unwrap();
    let stored = app.stored_totals("water").await;
    assert_eq!(
        (water["raised_minor"].as_i64(), water["donors"].as_i64()),
        (Some(stored.raised_minor), Some(stored.donors))
    );
    assert_eq!((stored.raised_minor, stored.donors), (4000 + 1000 - 400, 2));
    assert_eq!(water["average_gift_minor"], 2300);
    let names: Vec<&str> = water["recent"].as_array().unwrap().iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["Amina"], "the anonymous donor stays unnamed");

    let sandbox = &dashboard["payments"]["gateways"][0];
    assert_eq!(sandbox["gateway"], "sandbox");
    let counts: Vec<i64> = ["started", "succeeded", "failed", "pending", "charged_back", "refunded"]
        .iter()
        .map(|k| sandbox[k].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [5, 2, 1, 1, 1, 0], "{sandbox}");
    assert_eq!(dashboard["payments"]["pending"]["count"], 1);

    let series = dashboard["gifts"]["series"].as_array().unwrap();
    let gifts: i64 = series.iter().map(|b| b["gifts"].as_i64().unwrap()).sum();
    let amount: i64 = series.iter().map(|b| b["amount_minor"].as_i64().unwrap()).sum();
    assert_eq!((gifts, amount), (2, 4600), "the chart counts what the total counts");
    assert!(dashboard["system"]["requests"]["requests"].as_u64().unwrap() > 5);
    assert_eq!(dashboard["system"]["database_reachable"], true);

    let csv = app
        .client
        .get(app.at("/api/v1/admin/dashboard/gateways.csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let headers = rows.headers().unwrap().clone();
    let row = rows.records().next().unwrap().unwrap();
    let field = |name: &str| row.get(headers.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert_eq!((field("gateway"), field("started"), field("charged_back")), ("sandbox".into(), "5".into(), "1".into()));

    for section in ["campaigns", "gifts", "gateways", "review", "referrals"] {
        let response = app
            .client
            .get(app.at(&format!("/api/v1/admin/dashboard/{section}.csv")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{section}");
    }
    let campaigns_csv = app
        .client
        .get(app.at("/api/v1/admin/dashboard/campaigns.csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(campaigns_csv.lines().any(|line| line.starts_with("water,USD,100000,4600,2,2300")), "{campaigns_csv}");

    let page = app.client.get(app.at("/admin/")).basic_auth("admin", Some(ADMIN_TOKEN)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<strong data-raised>46 USD</strong>"), "{html}");
    assert_eq!(
        html.matches(r#"<rect class="bar""#).count(),
        series.iter().filter(|b| b["campaign"] == "water").count()
    );
}

#[tokio::test]
async fn without_an_admin_token_the_dashboard_does_not_exist() {
    let app = spawn_app_with(Backend::Sqlite, |settings| settings.admin_token = None).await.unwrap();
    assert_eq!(app.get("/admin/").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/admin/dashboard.json").await.status(), StatusCode::NOT_FOUND);
}
