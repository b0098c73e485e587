//! The donate journey end to end, through the same wiring as `pledge serve`: the binary itself
//! is started on a free port with the reference site, and driven over HTTP as a browser would.

mod common;

use std::time::Duration;

use common::{Served, project_root, serve};

use reqwest::{Client, StatusCode};
use url::Url;

fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn location(response: &reqwest::Response) -> Url {
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

async fn totals(client: &Client, served: &Served) -> serde_json::Value {
    let url = served.url.join("/api/v1/campaigns/clean-water/totals").unwrap();
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Donates `amount` through the sandbox, choosing `choice`; returns the result page's path.
async fn donate(client: &Client, served: &Served, amount: &str, choice: &str) -> String {
    let donate_page = client.get(served.url.join("/donate/").unwrap()).send().await.unwrap();
    assert_eq!(donate_page.status(), StatusCode::OK);
    let form = donate_page.text().await.unwrap();
    assert!(form.contains("/api/v1/donations"), "the donate page posts to the API");
    assert!(form.contains(r#"name="campaign""#) && form.contains(r#"name="amount""#));

    let posted = client
        .post(served.url.join("/api/v1/donations").unwrap())
        .form(&[("campaign", "clean-water"), ("amount", amount), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let hosted_page = location(&posted);
    let page = client.get(hosted_page.clone()).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Sandbox payment"));

    let mut fields: Vec<(String, String)> = hosted_page.query_pairs().into_owned().collect();
    fields.push(("choice".into(), choice.into()));
    let chosen = client.post(served.url.join("/sandbox/pay").unwrap()).form(&fields).send().await.unwrap();
    assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
    let returned = client.get(location(&chosen)).send().await.unwrap();
    assert_eq!(returned.status(), StatusCode::SEE_OTHER);
    let result_page = location(&returned);
    let shown = client.get(result_page.clone()).send().await.unwrap();
    assert_eq!(shown.status(), StatusCode::OK, "{result_page} is a built page");
    result_page.path().to_string()
}

#[tokio::test]
async fn a_gift_made_through_the_sandbox_moves_the_totals_exactly_once() {
    let served = serve(&project_root());
    let client = browser();
    let home = client.get(served.url.clone()).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains(r#"data-campaign="clean-water""#));
    let before = totals(&client, &served).await;

    assert_eq!(donate(&client, &served, "25.50", "paid").await, "/thank-you/");

    let expected = before["raised_minor"].as_i64().unwrap() + 2550;
    let mut after = serde_json::Value::Null;
    for _ in 0..40 {
        after = totals(&client, &served).await;
        if after["raised_minor"] == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after["raised_minor"], expected, "the gift shows in the totals within seconds");
    assert_eq!(after["donors"], before["donors"].as_i64().unwrap() + 1);
    // The notification arrives after the return; it must not count the gift again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(totals(&client, &served).await["raised_minor"], expected);

    assert_eq!(donate(&client, &served, "10", "declined").await, "/failed/");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(totals(&client, &served).await["raised_minor"], expected, "a declined gift moves nothing");
}

#[tokio::test]
async fn every_reference_page_is_served_in_english_and_arabic() {
    let served = serve(&project_root());
    let client = browser();
    for path in ["/", "/donate/", "/thank-you/", "/failed/", "/contact/", "/about/"] {
        let english = client.get(served.url.join(path).unwrap()).send().await.unwrap();
        assert_eq!(english.status(), StatusCode::OK, "{path}");
        assert!(english.text().await.unwrap().contains(r#"lang="en""#), "{path}");
        let arabic_path = format!("/ar{path}");
        let arabic = client.get(served.url.join(&arabic_path).unwrap()).send().await.unwrap();
        assert_eq!(arabic.status(), StatusCode::OK, "{arabic_path}");
        let html = arabic.text().await.unwrap();
        assert!(html.contains(r#"lang="ar""#) && html.contains(r#"dir="rtl""#), "{arabic_path}");
    }
    let missing = client.get(served.url.join("/no-such-page/").unwrap()).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
