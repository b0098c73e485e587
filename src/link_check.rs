//! `pledge check --external-links`: every link to another site, requested once (eight at a time),
//! reported with the pages that carry it when it does not answer with a success.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use reqwest::{Client, Method, StatusCode};

/// Links checked at once: enough to finish a big site quickly, few enough not to look like an
/// attack to the sites linked.
const CONCURRENT_REQUESTS: usize = 8;

/// A link that failed, and why.
pub struct Broken {
    pub url: String,
    pub reason: String,
    pub pages: BTreeSet<String>,
}

pub async fn check(links: BTreeMap<String, BTreeSet<String>>, timeout: Duration) -> anyhow::Result<Vec<Broken>> {
    let client = Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(10))
        .user_agent(concat!("pledge-link-check/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let results = stream::iter(links)
        .map(|(url, pages)| {
            let client = &client;
            async move { failure(client, &url).await.map(|reason| Broken { url, reason, pages }) }
        })
        .buffer_unordered(CONCURRENT_REQUESTS)
        .collect::<Vec<_>>()
        .await;
    let mut broken: Vec<Broken> = results.into_iter().flatten().collect();
    broken.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(broken)
}

/// Why `url` is broken, or `None` when it answers with a success. HEAD first, as it costs the
/// other site least; GET when HEAD is refused, since some servers answer only GET.
async fn failure(client: &Client, url: &str) -> Option<String> {
    let mut last = None;
    for method in [Method::HEAD, Method::GET] {
        match client.request(method, url).send().await {
            Ok(response) if response.status().is_success() => return None,
            Ok(response) if refuses_head(response.status()) => last = Some(format!("HTTP {}", response.status())),
            Ok(response) => return Some(format!("HTTP {}", response.status())),
            Err(error) => return Some(without_url(&error)),
        }
    }
    last
}

fn refuses_head(status: StatusCode) -> bool {
    matches!(status, StatusCode::METHOD_NOT_ALLOWED | StatusCode::FORBIDDEN | StatusCode::NOT_IMPLEMENTED)
}

/// reqwest's message names the URL, which the report already shows.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    // The innermost cause says it plainly ("Connection refused"); the layers above repeat it.
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(deeper) = cause.and_then(std::error::Error::source) {
        cause = Some(deeper);
    }
    match cause {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}
