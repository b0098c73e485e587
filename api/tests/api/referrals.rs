use std::time::Duration;

use api::db::ReferralStats;
use api::domain::ReferralCode;

use crate::helpers::{Backend, TestApp, location, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    a_supporter_gets_a_share_link_and_its_clicks_are_counted_once_per_visitor,
    a_gift_through_a_link_is_credited_to_it,
    the_last_link_followed_within_the_window_gets_the_gift,
    a_gift_with_no_code_or_a_bad_or_expired_code_still_goes_through,
    an_unknown_code_lands_on_the_site_and_records_nothing,
    links_never_send_visitors_off_the_site,
    share_codes_are_validated_unique_and_rate_limited,
);

pub async fn create_link(app: &TestApp, code: &str) -> reqwest::Response {
    app.client
        .post(app.at("/api/v1/referrals"))
        .json(&serde_json::json!({ "campaign": "water", "code": code, "display_name": "Amina", "leaderboard": true }))
        .send()
        .await
        .unwrap()
}

async fn follow(app: &TestApp, path: &str, agent: &str) -> reqwest::Response {
    app.client.get(app.at(path)).header("user-agent", agent).send().await.unwrap()
}

/// Waits for the batched clicks to be written (the test app flushes every 100 ms).
async fn stats(app: &TestApp, code: &str, clicks: i64) -> ReferralStats {
    let code = ReferralCode::parse(code).unwrap();
    let mut last = None;
    for _ in 0..100 {
        last = app.store.referral_stats(&code).await.unwrap();
        if last.as_ref().is_some_and(|s| s.clicks == clicks) {
            return last.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicks never reached {clicks}: {last:?}");
}

async fn referral(app: &TestApp, code: &str) -> serde_json::Value {
    app.get(&format!("/api/v1/referrals/{code}")).await.json().await.unwrap()
}

/// Donates with `fields` (and a cookie, if given) and pays on the sandbox page.
pub async fn pay(app: &TestApp, fields: &[(&str, &str)], cookie: Option<&str>) -> url::Url {
    let mut request = app.client.post(app.at("/api/v1/donations")).form(fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 303);
    let hosted_page = location(&response);
    let return_url = app.choose_on_hosted_page(&hosted_page, "paid").await;
    app.return_from_gateway(&return_url).await;
    hosted_page
}

fn cookie_of(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    set_cookie.split(';').next().unwrap().to_string()
}

async fn a_supporter_gets_a_share_link_and_its_clicks_are_counted_once_per_visitor(app: TestApp) {
    let created = create_link(&app, "Amina-Water").await;
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["url"], app.at("/r/amina-water").as_str());

    let first = follow(&app, "/r/amina-water", "browser-a").await;
    follow(&app, "/r/amina-water", "browser-a").await;
    follow(&app, "/r/amina-water", "browser-b").await;

    assert_eq!(first.status(), 302);
    assert_eq!(location(&first).as_str(), "https://site.test/?ref=amina-water");
    assert!(cookie_of(&first).starts_with("pledge_ref=amina-water."));
    let stats = stats(&app, "amina-water", 2).await;
    assert_eq!((stats.donations, stats.raised_minor), (0, 0));
    let api = referral(&app, "amina-water").await;
    assert_eq!(api["clicks"], 2);
    assert_eq!(api["currency"], "USD");
}

async fn a_gift_through_a_link_is_credited_to_it(app: TestApp) {
    create_link(&app, "amina").await;

    pay(&app, &[("campaign", "water"), ("amount", "30"), ("ref", "amina")], None).await;
    pay(&app, &[("campaign", "water"), ("amount", "20")], None).await;

    let api = referral(&app, "amina").await;
    assert_eq!((api["donations"].as_i64(), api["raised_minor"].as_i64()), (Some(1), Some(3000)));
}

async fn the_last_link_followed_within_the_window_gets_the_gift(app: TestApp) {
    create_link(&app, "first").await;
    create_link(&app, "second").await;
    follow(&app, "/r/first", "browser").await;
    let last = cookie_of(&follow(&app, "/r/second", "browser").await);

    pay(&app, &[("campaign", "water"), ("amount", "30")], Some(&last)).await;

    let (first, second) = (referral(&app, "first").await, referral(&app, "second").await);
    assert_eq!((first["donations"].as_i64(), second["donations"].as_i64()), (Some(0), Some(1)));
}

async fn a_gift_with_no_code_or_a_bad_or_expired_code_still_goes_through(app: TestApp) {
    create_link(&app, "amina").await;
    let expired = format!("pledge_ref=amina.{}", api::gateway::sandbox::protocol::unix_now() - 31 * 86_400);

    let with_bad_code = pay(&app, &[("campaign", "water"), ("amount", "30"), ("ref", "no such code!")], None).await;
    let with_unknown_code = pay(&app, &[("campaign", "water"), ("amount", "30"), ("ref", "nobody")], None).await;
    let with_expired_cookie = pay(&app, &[("campaign", "water"), ("amount", "30")], Some(&expired)).await;
    let with_garbled_cookie = pay(&app, &[("campaign", "water"), ("amount", "30")], Some("pledge_ref=%%%")).await;

    for hosted_page in [with_bad_code, with_unknown_code, with_expired_cookie, with_garbled_cookie] {
        assert_eq!(app.donation(&hosted_page).await.status, api::domain::DonationStatus::Succeeded);
    }
    assert_eq!(referral(&app, "amina").await["donations"], 0);
    assert_eq!(app.stored_totals("water").await.raised_minor, 12_000);
}

async fn an_unknown_code_lands_on_the_site_and_records_nothing(app: TestApp) {
    let response = follow(&app, "/r/nobody-here?to=/donate/", "browser").await;

    assert_eq!(response.status(), 302);
    assert_eq!(location(&response).as_str(), "https://site.test/donate/?ref=nobody-here");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.store.referral_stats(&ReferralCode::parse("nobody-here").unwrap()).await.unwrap().is_none());
    assert_eq!(app.get("/api/v1/referrals/nobody-here").await.status(), 404);
    let malformed = follow(&app, "/r/%00bad", "browser").await;
    assert_eq!(location(&malformed).as_str(), "https://site.test/");
}

async fn links_never_send_visitors_off_the_site(app: TestApp) {
    create_link(&app, "amina").await;
    let attempts = [
        "https://evil.test/",
        "//evil.test",
        "/%2F%2Fevil.test",
        "%2F%2Fevil.test",
        "/%5Cevil.test",
        "%5C%5Cevil.test",
        "https:evil.test",
        "/%09/evil.test",
        "javascript:alert(1)",
        "%EF%BC%8F%EF%BC%8Fevil.test",
        "/..%2F..%2F",
    ];
    for to in attempts {
        let response = follow(&app, &format!("/r/amina?to={to}"), "browser").await;
        assert_eq!(response.status(), 302, "{to}");
        assert_eq!(location(&response).host_str(), Some("site.test"), "{to}");
    }
    let kept = follow(&app, "/r/amina?to=/ar/donate/", "browser").await;
    assert_eq!(location(&kept).as_str(), "https://site.test/ar/donate/?ref=amina");
}

async fn share_codes_are_validated_unique_and_rate_limited(app: TestApp) {
    assert_eq!(create_link(&app, "ok-code").await.status(), 201);
    assert_eq!(create_link(&app, "OK-CODE").await.status(), 409, "codes are case-folded");
    assert_eq!(create_link(&app, "no spaces").await.status(), 422);
    let from_a_form = app.client.post(app.at("/api/v1/referrals")).form(&[("campaign", "water")]).send().await.unwrap();
    assert_eq!(from_a_form.status(), 201);
    assert!(from_a_form.text().await.unwrap().contains("/r/"), "a form post gets a page with its link");
    // Four attempts so far; one visitor may make ten an hour.
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses.push(create_link(&app, &format!("code-{i}")).await.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 201, 429]);
}

/// Clicks counted in memory reach the database at a clean shutdown, not only on the timer.
#[tokio::test]
async fn clicks_counted_in_memory_survive_a_clean_shutdown_on_sqlite() {
    clicks_survive_a_clean_shutdown(Backend::Sqlite).await;
}

#[tokio::test]
async fn clicks_counted_in_memory_survive_a_clean_shutdown_on_postgres() {
    clicks_survive_a_clean_shutdown(Backend::Postgres).await;
}

async fn clicks_survive_a_clean_shutdown(backend: Backend) {
    let Some(mut app) = spawn_app_with(backend, |settings| settings.click_flush_ms = 3_600_000).await else { return };
    create_link(&app, "amina").await;
    follow(&app, "/r/amina", "browser-a").await;
    follow(&app, "/r/amina", "browser-b").await;
    let code = ReferralCode::parse("amina").unwrap();
    assert_eq!(app.store.referral_stats(&code).await.unwrap().unwrap().clicks, 0, "nothing written before the flush");

    app.stop().await;

    assert_eq!(app.store.referral_stats(&code).await.unwrap().unwrap().clicks, 2);
}
