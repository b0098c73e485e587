//! What operators watch: the Prometheus exposition and the pages' script error reports.

use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    metrics_count_requests_by_route_and_donations_by_status,
    a_page_script_error_is_logged_counted_and_limited
);

async fn metrics(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample named exactly `series` (name and labels), if exposed.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_requests_by_route_and_donations_by_status(app: TestApp) {
    let paid = app.start_donation(&[("campaign", "water"), ("amount", "25"), ("lang", "en")]).await;
    let back = app.choose_on_hosted_page(&paid, "paid").await;
    app.return_from_gateway(&back).await;
    app.start_donation(&[("campaign", "water"), ("amount", "10"), ("lang", "en")]).await;
    for _ in 0..3 {
        app.get("/api/v1/campaigns/water/totals").await;
    }
    app.get("/no/such/page/42").await;

    let text = metrics(&app).await;
    assert!(text.ends_with("# EOF\n"), "a complete exposition");
    let totals = r#"pledge_http_request_duration_seconds_count{route="/api/v1/campaigns/{slug}/totals",method="GET",status="200"}"#;
    assert_eq!(sample(&text, totals), Some(3.0), "{text}");
    let created = r#"pledge_http_request_duration_seconds_count{route="/api/v1/donations",method="POST",status="303"}"#;
    assert_eq!(sample(&text, created), Some(2.0), "{text}");
    let unmatched = r#"pledge_http_request_duration_seconds_count{route="unmatched",method="GET",status="404"}"#;
    assert_eq!(sample(&text, unmatched), Some(1.0), "paths stay out of the labels: {text}");
    assert!(!text.contains("/no/such/page"));
    let bucket = r#"pledge_http_request_duration_seconds_bucket{le="+Inf",route="/api/v1/donations",method="POST",status="303"}"#;
    assert_eq!(sample(&text, bucket), Some(2.0), "{text}");

    assert_eq!(sample(&text, r#"pledge_donations{gateway="sandbox",status="succeeded"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"pledge_donations{gateway="sandbox",status="pending"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"pledge_gateway_checkout_starts_total{gateway="sandbox",result="ok"}"#), Some(2.0));
    assert_eq!(sample(&text, r#"pledge_gateway_payments_total{gateway="sandbox",result="paid"}"#), Some(1.0));
    assert_eq!(sample(&text, "pledge_database_up"), Some(1.0));
    let age = sample(&text, "pledge_totals_age_seconds").expect("the totals' age");
    assert!((0.0..5.0).contains(&age), "refreshed every 100 ms in tests: {age}");
}

async fn a_page_script_error_is_logged_counted_and_limited(app: TestApp) {
    let url = app.at("/api/v1/client-errors");
    let report = serde_json::json!({
        "message": "TypeError: x is undefined",
        "source": "https://site.test/totals.js?v=3",
        "line": 12, "column": 7,
        "page": "https://site.test/donate/?name=Ann",
        "stack": "at tick (https://site.test/totals.js?v=3:12:7)"
    });
    let sent = app
        .client
        .post(url.clone())
        .header("content-type", "text/plain")
        .body(report.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);

    let garbled = app.client.post(url.clone()).body("not json").send().await.unwrap();
    assert_eq!(garbled.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let huge = serde_json::json!({ "message": "x".repeat(20_000) }).to_string();
    let too_large = app.client.post(url.clone()).body(huge).send().await.unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Ten a minute per visitor (three were used above, the oversized one included or not).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.client.post(url.clone()).body(report.to_string()).send().await.unwrap().status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");

    let text = metrics(&app).await;
    let logged = sample(&text, r#"pledge_client_errors_total{result="logged"}"#).unwrap();
    let limited = sample(&text, r#"pledge_client_errors_total{result="rate_limited"}"#).unwrap();
    assert!(logged >= 1.0 && limited >= 1.0, "{text}");
    assert_eq!(logged + limited, 11.0, "every well-formed report is counted once: {text}");
}
