//! `pledge check --live`: an uptime check an operator puts on a timer. It asks what a visitor
//! and the pages ask — the home page, the API's readiness, every campaign's totals — and fails
//! with the first reason it finds, so the alert says what broke.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use reqwest::header::CONTENT_TYPE;
use url::Url;

pub async fn check(site: &Url, api: &Url, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("pledge-uptime/", env!("CARGO_PKG_VERSION")))
        .build()?;

    let (home, took) = get(&client, site.clone()).await.context("site")?;
    let html = home.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = home.text().await.context("site: reading the home page")?;
    ensure!(html.starts_with("text/html"), "site: {site} answered {html:?}, not an HTML page");
    ensure!(body.contains("<html"), "site: {site} answered a page without <html>");
    report("site", site, took);

    let readyz = join(api, "readyz")?;
    let (ready, took) = get(&client, readyz.clone()).await.context("api")?;
    drop(ready);
    report("api", &readyz, took);

    let campaigns_url = join(api, "api/v1/campaigns")?;
    let (campaigns, took) = get(&client, campaigns_url.clone()).await.context("api")?;
    let listing: serde_json::Value =
        campaigns.json().await.with_context(|| format!("api: {campaigns_url} is not JSON"))?;
    let campaigns =
        listing["campaigns"].as_array().with_context(|| format!("api: {campaigns_url} lists no campaigns"))?;
    report("campaigns", &campaigns_url, took);
    for campaign in campaigns {
        let path = campaign["totals_url"]
            .as_str()
            .with_context(|| format!("api: a campaign without totals_url: {campaign}"))?;
        let totals_url = join(api, path.trim_start_matches('/'))?;
        let (totals, took) = get(&client, totals_url.clone()).await.context("totals")?;
        let totals: serde_json::Value =
            totals.json().await.with_context(|| format!("totals: {totals_url} is not JSON"))?;
        ensure!(totals["raised_minor"].is_i64(), "totals: {totals_url} has no raised_minor: {totals}");
        report("totals", &totals_url, took);
    }
    Ok(())
}

/// A 2xx answer and how long it took; anything else is the reason the check fails.
async fn get(client: &reqwest::Client, url: Url) -> anyhow::Result<(reqwest::Response, Duration)> {
    let started = Instant::now();
    let response = match client.get(url.clone()).send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => bail!("{url} did not answer within the timeout"),
        Err(error) if error.is_connect() => bail!("{url}: could not connect ({})", root_cause(&error)),
        Err(error) => bail!("{url}: {}", root_cause(&error)),
    };
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("{url} answered {status}: {}", body.trim().chars().take(200).collect::<String>());
    }
    Ok((response, started.elapsed()))
}

fn join(base: &Url, path: &str) -> anyhow::Result<Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let directory = format!("{}/", base.path());
        base.set_path(&directory);
    }
    base.join(path).with_context(|| format!("{base} joined with {path}"))
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn report(what: &str, url: &Url, took: Duration) {
    println!("ok  {what:<9} {url} in {} ms", took.as_millis());
}
