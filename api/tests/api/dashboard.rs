//! The operators' dashboard: it refuses strangers without leaking anything, and its page, JSON
//! and CSV show what SQL over the donations table says for a seeded history: a gift through a
//! share link, a partial refund, a lost dispute, an open dispute, a decline, an abandoned and a
//! pending payment, an offline cheque and an event for an unknown donation.

use std::collections::HashMap;
use std::time::Duration;

use api::db::PaymentEvent;
use api::domain::{DonationId, GatewayEventId, Outcome, ReferralCode};
use api::gateway::sandbox::protocol::unix_now;
use api::gateway::sandbox::{NotificationBody, PaymentStatus};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, SECRET, TestApp, param};
use crate::{on_both_databases, on_both_databases_with};

on_both_databases!(
    the_dashboard_refuses_strangers_and_leaks_nothing,
    the_dashboard_shows_what_the_database_holds,
    every_csv_section_holds_the_dashboards_numbers,
    gifts_are_counted_per_minute_hour_and_day,
);
on_both_databases_with!(no_admin_token; without_an_admin_token_the_dashboard_does_not_exist);

const SHARE_CODE: &str = "amina-water";
/// What the seeded history leaves counted for `water`: 40 + (10 − 4 refunded) + 30 disputed
/// but not lost + a 50 cheque; the 25 lost in a dispute counts nothing.
const RAISED: i64 = 4000 + 600 + 3000 + 5000;
const GIFTS: i64 = 4;

async fn notify(app: &TestApp, hosted_page: &url::Url, event: &str, status: PaymentStatus, refunded: Option<i64>) {
    let body = NotificationBody {
        event_id: event.into(),
        payment_id: format!("pay_{}", param(hosted_page, "merchant_reference")),
        merchant_reference: param(hosted_page, "merchant_reference"),
        status,
        amount_minor: param(hosted_page, "amount_minor").parse().unwrap(),
        currency: "USD".into(),
        refunded_minor: refunded,
    };
    let response = app.send_notification(&body, unix_now(), SECRET).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The history every test here starts from.
async fn seed(app: &TestApp) {
    let link = app
        .client
        .post(app.at("/api/v1/referrals"))
        .json(&json!({ "campaign": "water", "code": SHARE_CODE, "display_name": "Amina" }))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::CREATED);
    app.client.get(app.at(&format!("/r/{SHARE_CODE}"))).header("user-agent", "a friend").send().await.unwrap();

    let named = app
        .start_donation(&[("campaign", "water"), ("amount", "40"), ("display_name", "Amina"), ("ref", SHARE_CODE)])
        .await;
    notify(app, &named, "e1", PaymentStatus::Paid, None).await;
    let hidden = [("campaign", "water"), ("amount", "10"), ("display_name", "Hidden Person"), ("anonymous", "on")];
    let refunded = app.start_donation(&hidden).await;
    notify(app, &refunded, "e2", PaymentStatus::Paid, None).await;
    notify(app, &refunded, "e3", PaymentStatus::Refunded, Some(400)).await;
    let lost = app.start_donation(&[("campaign", "water"), ("amount", "25")]).await;
    notify(app, &lost, "e4", PaymentStatus::Paid, None).await;
    notify(app, &lost, "e5", PaymentStatus::DisputeLost, None).await;
    let disputed = app.start_donation(&[("campaign", "water"), ("amount", "30")]).await;
    notify(app, &disputed, "e6", PaymentStatus::Paid, None).await;
    notify(app, &disputed, "e7", PaymentStatus::DisputeOpened, None).await;
    let declined = app.start_donation(&[("campaign", "water"), ("amount", "15"), ("ref", SHARE_CODE)]).await;
    notify(app, &declined, "e8", PaymentStatus::Declined, None).await;
    app.start_donation(&[("campaign", "water"), ("amount", "5")]).await;

    // Abandoned: what the reconciler records when the gateway never heard of the payment.
    let abandoned = app.donation(&app.start_donation(&[("campaign", "water"), ("amount", "20")]).await).await;
    let expiry = PaymentEvent {
        gateway: "sandbox".into(),
        event_id: GatewayEventId::parse(&format!("reconciler-expired-{}", abandoned.id.as_str())).unwrap(),
        donation_id: abandoned.id.clone(),
        outcome: Outcome::Expired,
        amount: abandoned.amount,
        currency: abandoned.currency,
        gateway_reference: None,
    };
    app.store.apply_event(&expiry).await.unwrap();

    let cheque = app
        .client
        .post(app.at("/api/v1/admin/donations"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "campaign": "water", "amount": "50", "method": "cheque" }))
        .send()
        .await
        .unwrap();
    assert_eq!(cheque.status(), StatusCode::CREATED);

    let mut stray = NotificationBody {
        event_id: "evt_stray".into(),
        payment_id: "pay_stray".into(),
        merchant_reference: DonationId::generate().as_str().to_string(),
        status: PaymentStatus::Paid,
        amount_minor: 7700,
        currency: "USD".into(),
        refunded_minor: None,
    };
    assert_eq!(app.send_notification(&stray, unix_now(), SECRET).await.status(), StatusCode::OK);
    stray.event_id = "evt_stray_again".into();
    assert_eq!(app.send_notification(&stray, unix_now(), SECRET).await.status(), StatusCode::OK);

    app.wait_for_raised("water", RAISED).await;
    wait_for_clicks(app, 1).await;
}

/// Waits for the batched clicks to be written (the test app flushes every 100 ms).
async fn wait_for_clicks(app: &TestApp, clicks: i64) {
    let code = ReferralCode::parse(SHARE_CODE).unwrap();
    for _ in 0..100 {
        if app.store.referral_stats(&code).await.unwrap().is_some_and(|s| s.clicks == clicks) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the click was never written");
}

/// One number from SQL over the test database; the query is written for both dialects.
async fn sql(app: &TestApp, query: &str) -> i64 {
    let url = app.database_url();
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let value = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        value
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let value = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        value
    }
}

async fn admin_get(app: &TestApp, path: &str) -> Response {
    app.client.get(app.at(path)).bearer_auth(ADMIN_TOKEN).send().await.unwrap()
}

async fn dashboard(app: &TestApp, query: &str) -> Value {
    let response = admin_get(app, &format!("/api/v1/admin/dashboard.json{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A CSV file as rows of column name → value.
async fn csv_rows(app: &TestApp, section: &str) -> Vec<HashMap<String, String>> {
    let response = admin_get(app, &format!("/api/v1/admin/dashboard/{section}.csv")).await;
    assert_eq!(response.status(), StatusCode::OK, "{section}");
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert!(!headers.is_empty(), "{section} has a header row");
    reader
        .records()
        .map(|record| headers.iter().zip(record.unwrap().iter()).map(|(h, v)| (h.into(), v.into())).collect())
        .collect()
}

fn number(row: &HashMap<String, String>, column: &str) -> i64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} in {row:?}"))
}

const DATA_PATHS: [&str; 5] = [
    "/admin/",
    "/admin/dashboard.css",
    "/api/v1/admin/dashboard.json",
    "/api/v1/admin/dashboard/gateways.csv",
    "/api/v1/admin/dashboard/recent.csv",
];

async fn the_dashboard_refuses_strangers_and_leaks_nothing(app: TestApp) {
    seed(&app).await;
    let basic = |user: &str, password: &str| app.client.get(app.at("/admin/")).basic_auth(user, Some(password));
    let strangers = [
        ("nobody", app.client.get(app.at("/admin/"))),
        ("a wrong password", basic("admin", "guess")),
        ("the token as the user name", basic(ADMIN_TOKEN, "")),
        ("a wrong bearer token", app.client.get(app.at("/admin/")).bearer_auth("guess")),
        (
            "an unknown scheme",
            app.client.get(app.at("/admin/")).header("authorization", format!("Token {ADMIN_TOKEN}")),
        ),
    ];
    for (who, request) in strangers {
        assert_eq!(request.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{who}");
    }

    // Every route, even a wrong section or a bad query, answers a stranger the same way.
    let mut paths: Vec<String> = DATA_PATHS.iter().map(|p| p.to_string()).collect();
    paths.extend(
        ["/admin", "/api/v1/admin/dashboard/nothing.csv", "/api/v1/admin/dashboard.json?bucket=year"].map(String::from),
    );
    for path in &paths {
        let stranger = app.get(path).await;
        assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(stranger.headers()["content-type"], "application/problem+json", "{path}");
        let challenge = stranger.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert_eq!(challenge, r#"Basic realm="Pledge admin", charset="UTF-8""#, "a browser prompts for a login");
        let body = stranger.text().await.unwrap();
        for secret in ["Amina", "Hidden", "water", "sandbox", "126", "evt_stray", SHARE_CODE] {
            assert!(!body.contains(secret), "{path} told a stranger {secret:?}: {body}");
        }
    }

    for path in DATA_PATHS {
        let operator = app.client.get(app.at(path)).basic_auth("any name", Some(ADMIN_TOKEN)).send().await.unwrap();
        assert_eq!(operator.status(), StatusCode::OK, "{path}");
        assert_eq!(operator.headers()["cache-control"], "no-store", "{path}");
    }
    let slash = app.client.get(app.at("/admin")).basic_auth("admin", Some(ADMIN_TOKEN)).send().await.unwrap();
    assert_eq!(
        (slash.status(), &slash.headers()["location"]),
        (StatusCode::PERMANENT_REDIRECT, &"admin/".parse().unwrap())
    );
    assert_eq!(admin_get(&app, "/api/v1/admin/dashboard/nothing.csv").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        admin_get(&app, "/api/v1/admin/dashboard.json?bucket=year").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn the_dashboard_shows_what_the_database_holds(app: TestApp) {
    seed(&app).await;
    let dashboard = dashboard(&app, "").await;

    // The campaign now, against SQL over the donations table.
    let counted = "FROM donations WHERE campaign = 'water' AND status IN ('succeeded', 'disputed')";
    let raised = sql(&app, &format!("SELECT CAST(SUM(amount_minor - refunded_minor) AS BIGINT) {counted}")).await;
    let gifts = sql(&app, &format!("SELECT CAST(COUNT(*) AS BIGINT) {counted}")).await;
    assert_eq!((raised, gifts), (RAISED, GIFTS), "the seeded history");
    let water = dashboard["campaigns"].as_array().unwrap().iter().find(|c| c["slug"] == "water").unwrap();
    assert_eq!((water["raised_minor"].as_i64(), water["donors"].as_i64()), (Some(raised), Some(gifts)));
    assert_eq!((water["goal_minor"].as_i64(), water["currency"].as_str()), (Some(100_000), Some("USD")));
    assert_eq!(water["average_gift_minor"].as_i64(), Some(raised / gifts));
    let recent = water["recent"].as_array().unwrap();
    let succeeded = sql(&app, "SELECT CAST(COUNT(*) AS BIGINT) FROM donations WHERE status = 'succeeded'").await;
    assert_eq!(recent.len() as i64, succeeded, "the latest gifts: every succeeded one, so few");
    let names: Vec<&str> = recent.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["Amina"], "the anonymous donor stays unnamed");
    assert!(!dashboard.to_string().contains("Hidden Person"));

    // Over time: the bars add up to the total.
    let series = dashboard["gifts"]["series"].as_array().unwrap();
    let water_series = || series.iter().filter(|b| b["campaign"] == "water");
    assert_eq!(water_series().count(), 120, "two hours by the minute, empty minutes included");
    let sum = |key: &str| water_series().map(|b| b[key].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("gifts"), sum("amount_minor")), (gifts, raised));

    // Payments: each gateway's donations by status.
    let gateways = dashboard["payments"]["gateways"].as_array().unwrap();
    assert_eq!(gateways[0]["gateway"], "sandbox", "configured gateways first");
    assert_eq!(gateways[0]["configured"], true);
    for (key, status) in [
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("abandoned", "expired"),
        ("pending", "pending"),
        ("refunded", "refunded"),
        ("disputed", "disputed"),
        ("charged_back", "charged_back"),
    ] {
        let stored = sql(
            &app,
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM donations WHERE gateway = 'sandbox' AND status = '{status}'"
            ),
        )
        .await;
        assert_eq!(gateways[0][key].as_i64(), Some(stored), "{key}");
    }
    let started = sql(&app, "SELECT CAST(COUNT(*) AS BIGINT) FROM donations WHERE gateway = 'sandbox'").await;
    assert_eq!(gateways[0]["started"].as_i64(), Some(started));
    let counts: Vec<i64> = ["started", "succeeded", "failed", "abandoned", "pending", "disputed", "charged_back"]
        .iter()
        .map(|k| gateways[0][k].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [7, 2, 1, 1, 1, 1, 1], "{}", gateways[0]);
    assert_eq!(gateways[0]["decline_rate"].as_f64(), Some(0.2), "one decline in five verdicts");
    assert_eq!(gateways[0]["healthy"], true);
    let cheque = gateways.iter().find(|g| g["gateway"] == "offline-cheque").unwrap();
    assert_eq!((cheque["configured"].as_bool(), cheque["succeeded"].as_i64()), (Some(false), Some(1)));

    let water_route =
        dashboard["payments"]["routing"].as_array().unwrap().iter().find(|r| r["campaign"] == "water").unwrap();
    assert_eq!(water_route["preferred"], "sandbox");
    assert!(water_route["why"].as_str().unwrap().starts_with("no routing rules"), "{water_route}");

    let pending = &dashboard["payments"]["pending"];
    let stored_pending = sql(&app, "SELECT CAST(COUNT(*) AS BIGINT) FROM donations WHERE status = 'pending'").await;
    assert_eq!((pending["count"].as_i64(), stored_pending), (Some(1), 1));
    assert_eq!(pending["oldest"][0]["amount_minor"], 500);
    assert_eq!(pending["oldest"][0]["attempts"], 0);

    let review = dashboard["payments"]["review"].as_array().unwrap();
    let kept = sql(&app, "SELECT CAST(COUNT(*) AS BIGINT) FROM payment_events WHERE result = 'unknown donation'").await;
    assert_eq!((review.len() as i64, kept), (2, 2));
    let mut events: Vec<&str> = review.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, ["evt_stray", "evt_stray_again"]);
    assert!(review.iter().all(|e| e["result"] == "unknown donation" && e["amount_minor"] == 7700), "{review:?}");

    // Share links: clicks → started → counted → raised.
    let link = &dashboard["referrals"]["links"][0];
    let through_link = format!("FROM donations WHERE referral_code = '{SHARE_CODE}'");
    let link_started = sql(&app, &format!("SELECT CAST(COUNT(*) AS BIGINT) {through_link}")).await;
    let link_raised = sql(
        &app,
        &format!("SELECT CAST(SUM(amount_minor - refunded_minor) AS BIGINT) {through_link} AND status IN ('succeeded', 'disputed')"),
    )
    .await;
    assert_eq!(link["code"], SHARE_CODE);
    assert_eq!(
        (link["clicks"].as_i64(), link["started"].as_i64(), link["donations"].as_i64(), link["raised_minor"].as_i64()),
        (Some(1), Some(link_started), Some(1), Some(link_raised))
    );
    assert_eq!((link_started, link_raised), (2, 4000));
    let funnel =
        dashboard["referrals"]["campaigns"].as_array().unwrap().iter().find(|f| f["campaign"] == "water").unwrap();
    assert_eq!((funnel["links"].as_i64(), funnel["started"].as_i64()), (Some(1), Some(2)));

    // The system, from the API's own counters.
    let system = &dashboard["system"];
    assert!(system["requests"]["requests"].as_u64().unwrap() >= 15, "{system}");
    assert!(system["requests"]["last_minute_requests"].as_u64().unwrap() >= 15, "{system}");
    assert!(system["requests"]["p99_ms"].as_f64().unwrap() > 0.0, "{system}");
    assert_eq!((system["database_reachable"].as_bool(), system["totals_stale"].as_bool()), (Some(true), Some(false)));
    assert!(system["totals_age_ms"].as_u64().unwrap() < 5_000, "{system}");
    assert_eq!(system["version"], env!("CARGO_PKG_VERSION"));

    // The page shows the same, with its charts.
    let page = app.client.get(app.at("/admin/")).basic_auth("admin", Some(ADMIN_TOKEN)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script") && !html.contains("style="), "no inline script or style");
    assert!(html.contains("<strong data-raised>126 USD</strong>"), "{html}");
    assert!(html.contains("<strong data-donors>4</strong>"), "{html}");
    assert!(!html.contains("Hidden Person"));
    let water_charts = html.split(r#"<article id="gifts-water">"#).nth(1).unwrap();
    let bars = |series: &str| -> i64 {
        let chart = water_charts.split(&format!(r#"data-series="{series}""#)).nth(1).unwrap();
        let chart = &chart[..chart.find("</svg>").unwrap()];
        chart.split(r#"data-value=""#).skip(1).map(|v| v[..v.find('"').unwrap()].parse::<i64>().unwrap()).sum()
    };
    assert_eq!((bars("gifts"), bars("amount")), (gifts, raised), "water's bars add up");
}

async fn every_csv_section_holds_the_dashboards_numbers(app: TestApp) {
    seed(&app).await;
    let dashboard = dashboard(&app, "").await;

    let campaigns = csv_rows(&app, "campaigns").await;
    let water = campaigns.iter().find(|r| r["campaign"] == "water").unwrap();
    assert_eq!((number(water, "raised_minor"), number(water, "donors")), (RAISED, GIFTS));
    assert_eq!((water["currency"].as_str(), number(water, "average_gift_minor")), ("USD", RAISED / GIFTS));

    let recent = csv_rows(&app, "recent").await;
    let names: Vec<&str> = recent.iter().map(|r| r["name"].as_str()).collect();
    assert_eq!(recent.len(), 3);
    assert!(names.contains(&"Amina") && !names.iter().any(|n| n.contains("Hidden")), "{names:?}");

    let gifts = csv_rows(&app, "gifts").await;
    let water_gifts = || gifts.iter().filter(|r| r["campaign"] == "water");
    assert_eq!(water_gifts().map(|r| number(r, "gifts")).sum::<i64>(), GIFTS);
    assert_eq!(water_gifts().map(|r| number(r, "amount_minor")).sum::<i64>(), RAISED);
    assert_eq!(gifts.len(), dashboard["gifts"]["series"].as_array().unwrap().len());

    let gateways = csv_rows(&app, "gateways").await;
    for (row, json) in gateways.iter().zip(dashboard["payments"]["gateways"].as_array().unwrap()) {
        for column in ["started", "succeeded", "failed", "abandoned", "pending", "refunded", "disputed", "charged_back"]
        {
            assert_eq!(Some(number(row, column)), json[column].as_i64(), "{column} of {}", row["gateway"]);
        }
    }
    assert_eq!((gateways[0]["gateway"].as_str(), gateways[0]["decline_rate"].as_str()), ("sandbox", "0.2"));

    let routing = csv_rows(&app, "routing").await;
    let water_route = routing.iter().find(|r| r["campaign"] == "water").unwrap();
    assert_eq!((water_route["gateway"].as_str(), water_route["preferred"].as_str()), ("sandbox", "true"));

    let pending = csv_rows(&app, "pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!((number(&pending[0], "amount_minor"), pending[0]["currency"].as_str()), (500, "USD"));

    let review = csv_rows(&app, "review").await;
    assert_eq!(review.len(), 2);
    assert!(review.iter().all(|r| r["result"] == "unknown donation"), "{review:?}");

    let referrals = csv_rows(&app, "referrals").await;
    assert_eq!(referrals.len(), 1);
    let link = &referrals[0];
    assert_eq!(
        (number(link, "clicks"), number(link, "started"), number(link, "donations"), number(link, "raised_minor")),
        (1, 2, 1, 4000)
    );

    let system = csv_rows(&app, "system").await;
    assert_eq!(system.len(), 1);
    assert_eq!((system[0]["database_reachable"].as_str(), number(&system[0], "pending_donations")), ("true", 1));
}

async fn gifts_are_counted_per_minute_hour_and_day(app: TestApp) {
    seed(&app).await;
    for (bucket, buckets) in [("minute", 120), ("hour", 168), ("day", 92)] {
        let dashboard = dashboard(&app, &format!("?bucket={bucket}")).await;
        let gifts = &dashboard["gifts"];
        assert_eq!((gifts["bucket"].as_str(), gifts["bucket_seconds"].as_i64().unwrap() > 0), (Some(bucket), true));
        let water: Vec<&Value> =
            gifts["series"].as_array().unwrap().iter().filter(|b| b["campaign"] == "water").collect();
        assert_eq!(water.len(), buckets, "{bucket}");
        let total: i64 = water.iter().map(|b| b["gifts"].as_i64().unwrap()).sum();
        let amount: i64 = water.iter().map(|b| b["amount_minor"].as_i64().unwrap()).sum();
        assert_eq!((total, amount), (GIFTS, RAISED), "{bucket}");
        let starts: Vec<&str> = water.iter().map(|b| b["start"].as_str().unwrap()).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "oldest first, one bucket each: {bucket}");
        assert_eq!(starts[0], gifts["from"].as_str().unwrap());

        let page = app
            .client
            .get(app.at(&format!("/admin/?bucket={bucket}")))
            .basic_auth("admin", Some(ADMIN_TOKEN))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(&format!("Gifts per {bucket}")), "{bucket}");
    }
}

fn no_admin_token(settings: &mut api::Settings) {
    settings.admin_token = None;
}

async fn without_an_admin_token_the_dashboard_does_not_exist(app: TestApp) {
    for path in DATA_PATHS.iter().chain(&["/admin"]) {
        let asked = app.client.get(app.at(path)).basic_auth("admin", Some(ADMIN_TOKEN)).send().await.unwrap();
        assert_eq!(asked.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
