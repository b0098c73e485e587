use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(
    campaigns_are_listed_from_the_site_config,
    totals_start_at_zero_with_an_etag_and_cache_rules,
    a_matching_etag_gets_304_without_a_body,
    an_unknown_campaign_is_a_404_problem,
    pages_on_the_sites_origin_may_poll_the_totals_and_others_may_not,
);

async fn campaigns_are_listed_from_the_site_config(app: TestApp) {
    let body: serde_json::Value = app.get("/api/v1/campaigns").await.json().await.unwrap();
    let slugs: Vec<&str> = body["campaigns"].as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["water", "schools", "wells"]);
    assert_eq!(body["campaigns"][0]["suggested_amounts_minor"], serde_json::json!([2500, 5000]));
    assert_eq!(body["campaigns"][1]["exponent"], 0);
    assert_eq!(body["campaigns"][2]["exponent"], 3);
}

async fn totals_start_at_zero_with_an_etag_and_cache_rules(app: TestApp) {
    let response = app.get("/api/v1/campaigns/water/totals").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["etag"].to_str().unwrap().starts_with('"'));
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("s-maxage"));
    let totals: serde_json::Value = response.json().await.unwrap();
    assert_eq!(totals["raised_minor"], 0);
    assert_eq!(totals["donors"], 0);
    assert_eq!(totals["goal_minor"], 100_000);
    assert_eq!(totals["currency"], "USD");
    // With the database answering, fresh: no time, so the body (and its tag) survive refreshes.
    assert_eq!((totals["stale"].as_bool(), totals.get("as_of")), (Some(false), None));
}

async fn a_matching_etag_gets_304_without_a_body(app: TestApp) {
    let first = app.get("/api/v1/campaigns/water/totals").await;
    let etag = first.headers()["etag"].clone();
    let second = app
        .client
        .get(app.at("/api/v1/campaigns/water/totals"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 304);
    assert_eq!(second.headers()["etag"], etag);
    assert!(second.bytes().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.at("/api/v1/campaigns/water/totals"))
        .header("if-none-match", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

async fn an_unknown_campaign_is_a_404_problem(app: TestApp) {
    let response = app.get("/api/v1/campaigns/nope/totals").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    assert!(problem["detail"].as_str().unwrap().contains("nope"));
}

async fn pages_on_the_sites_origin_may_poll_the_totals_and_others_may_not(app: TestApp) {
    let totals = app.at("/api/v1/campaigns/water/totals");
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, totals.clone())
        .header("origin", "https://site.test")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://site.test");

    let from_site = app.client.get(totals.clone()).header("origin", "https://site.test").send().await.unwrap();
    assert_eq!(from_site.headers()["access-control-allow-origin"], "https://site.test");
    assert!(from_site.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase().contains("etag"));

    let from_elsewhere = app.client.get(totals).header("origin", "https://evil.test").send().await.unwrap();
    assert!(from_elsewhere.headers().get("access-control-allow-origin").is_none());
}
