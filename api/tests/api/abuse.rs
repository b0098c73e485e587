//! What one client can do to the API on its own: too many donations or clicks from one address,
//! forged forwarding headers, oversized bodies and headers, and a slowloris client.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::referrals::create_link;

const GIFT: [(&str, &str); 2] = [("campaign", "water"), ("amount", "25")];

async fn app_with(change: impl FnOnce(&mut api::Settings)) -> TestApp {
    spawn_app_with(Backend::Sqlite, change).await.expect("SQLite is always there")
}

async fn post_from(app: &TestApp, forwarded_for: &str) -> reqwest::Response {
    app.client
        .post(app.at("/api/v1/donations"))
        .header("x-forwarded-for", forwarded_for)
        .form(&GIFT)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_donor_over_the_limit_gets_429_with_retry_after_then_gives_once_the_window_ends() {
    let app = app_with(|s| {
        s.donation_limit = 2;
        s.donation_limit_window_seconds = 3;
    })
    .await;
    assert_eq!(app.post_form(&GIFT).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.post_form(&GIFT).await.status(), StatusCode::SEE_OTHER);

    let page = app.post_form(&GIFT).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = page.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "within the 3 s window: {retry}");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(page.text().await.unwrap().contains("please wait a few minutes"));

    let json = app.post_json(serde_json::json!({ "campaign": "water", "amount": 25 })).await;
    assert_eq!(json.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(json.headers().contains_key("retry-after"));
    assert_eq!(json.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = json.json().await.unwrap();
    assert_eq!(problem["status"], 429);

    // Waiting as long as Retry-After says is enough.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(50)).await;
    assert_eq!(app.post_form(&GIFT).await.status(), StatusCode::SEE_OTHER, "a new window, a new chance");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"pledge_rate_limited_total{limit="donation"} 2"#), "{metrics}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit() {
    // The default trusts loopback, where the test client connects from: it plays nginx.
    let app = app_with(|s| {
        s.donation_limit = 1;
        s.donation_limit_window_seconds = 600;
    })
    .await;
    assert_eq!(post_from(&app, "203.0.113.1").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(post_from(&app, "203.0.113.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(post_from(&app, "203.0.113.2").await.status(), StatusCode::SEE_OTHER);
    // What a client put before the proxy's own entry changes nothing.
    assert_eq!(post_from(&app, "198.51.100.9, 203.0.113.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_forged_forwarded_address_from_an_untrusted_peer_does_not_dodge_the_limit() {
    let app = app_with(|s| {
        s.donation_limit = 1;
        s.donation_limit_window_seconds = 600;
        s.trusted_proxies = String::new();
    })
    .await;
    assert_eq!(post_from(&app, "203.0.113.1").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(post_from(&app, "203.0.113.2").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.post_form(&GIFT).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_bad_trusted_proxies_setting_stops_the_start() {
    let database = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", database.path().join("pledge.db").display());
    let mut settings = crate::helpers::test_settings(&url, &crate::helpers::config_path("site_config.toml"));
    settings.trusted_proxies = "nginx.local".into();
    let error = api::Application::build(settings).await.err().expect("refused");
    assert!(error.to_string().contains("nginx.local"), "{error}");
}

#[tokio::test]
async fn clicks_over_the_limit_still_redirect_but_are_not_counted() {
    let app = app_with(|s| s.click_limit_per_minute = 2).await;
    assert_eq!(create_link(&app, "amina-water").await.status(), StatusCode::CREATED);
    for agent in ["phone", "laptop", "tablet", "tv"] {
        let followed = app.client.get(app.at("/r/amina-water")).header("user-agent", agent).send().await.unwrap();
        assert_eq!(followed.status(), StatusCode::FOUND, "{agent} is never stuck");
        assert!(followed.headers()["location"].to_str().unwrap().contains("ref=amina-water"));
    }
    let code = api::domain::ReferralCode::parse("amina-water").unwrap();
    let mut clicks = 0;
    for _ in 0..50 {
        clicks = app.store.referral_stats(&code).await.unwrap().map_or(0, |s| s.clicks);
        if clicks == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let one more flush pass, so a wrongly counted third click would show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let clicks_later = app.store.referral_stats(&code).await.unwrap().map_or(0, |s| s.clicks);
    assert_eq!((clicks, clicks_later), (2, 2));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"pledge_rate_limited_total{limit="click"} 2"#), "{metrics}");
}

#[tokio::test]
async fn an_oversized_form_body_is_refused_with_413() {
    let app = app_with(|_| {}).await;
    let padding = "x".repeat(64 * 1024);
    let response = app.post_form(&[("campaign", "water"), ("amount", "25"), ("display_name", &padding)]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json =
        app.client.post(app.at("/api/v1/referrals")).body(format!("{{\"pad\":\"{padding}\"}}")).send().await.unwrap();
    assert_eq!(json.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A gateway's notification may be bigger than a form: its route keeps a larger limit.
    let webhook = app.client.post(app.at("/api/v1/payments/sandbox/webhook")).body(padding).send().await.unwrap();
    assert_ne!(webhook.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.post_form(&GIFT).await.status(), StatusCode::SEE_OTHER);
}

/// Sends raw bytes and reads until the server answers or closes: `None` for a reset.
async fn raw_exchange(app: &TestApp, bytes: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", app.url.port().unwrap())).await.unwrap();
    // The server may refuse before it has read everything, which makes the write fail.
    let _ = stream.write_all(bytes).await;
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Ok(Err(_)) => None,
        Err(_) => panic!("the server kept an oversized request open"),
    }
}

#[tokio::test]
async fn an_oversized_header_block_is_refused_with_431_or_a_closed_connection() {
    let app = app_with(|_| {}).await;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "a".repeat(128 * 1024));
    match raw_exchange(&app, request.as_bytes()).await {
        Some(answer) if !answer.is_empty() => {
            assert!(answer.starts_with("HTTP/1.1 431"), "{}", answer.lines().next().unwrap_or_default());
        }
        _ => {} // closed or reset without an answer: also refused
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK, "the server is unharmed");
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_while_others_are_served() {
    let app = app_with(|s| s.client_request_timeout_ms = 500).await;
    let stream = TcpStream::connect(("127.0.0.1", app.url.port().unwrap())).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        // One byte every 100 ms: the headers would take about 7 s, far past the 500 ms allowed.
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\nAccept: */*\r\n\r\n" {
            if writer.write_all(&[*byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    });

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK, "others are served meanwhile");

    let mut answer = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut answer)).await;
    assert!(ended.is_ok(), "the slow connection was never cut off");
    let completed = if trickle.is_finished() {
        trickle.await.unwrap()
    } else {
        trickle.abort();
        false
    };
    assert!(!completed, "the slow client got all its headers in before being cut off");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_answer_says_nosniff_and_pages_forbid_framing() {
    let app = app_with(|_| {}).await;
    let totals = app.get("/api/v1/campaigns/water/totals").await;
    assert_eq!(totals.headers()["x-content-type-options"], "nosniff");
    let refused = app.post_form(&[("campaign", "nowhere"), ("amount", "25")]).await;
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let policy = refused.headers()["content-security-policy"].to_str().unwrap().to_string();
    for part in ["default-src 'none'", "frame-ancestors 'none'", "style-src 'sha256-"] {
        assert!(policy.contains(part), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let page = refused.text().await.unwrap();
    assert!(!page.contains("onclick") && !page.contains("javascript:"), "{page}");
}
