//! The production nginx configuration (`infra/nginx/pledge.conf`) run for real, in the stack
//! of `common/stack.rs`: the built site, `pledge api` and nginx in front. Skips without nginx
//! and its brotli module unless services are required.

// Only `project_root` and `services_required`: this test starts its own processes, not `pledge serve`.
#[allow(dead_code)]
mod common;
#[path = "common/stack.rs"]
mod stack;

use std::path::Path;

use generator::optimize::fingerprint::is_fingerprinted;
use generator::postprocess::{ASSET_CACHE_CONTROL, IMMUTABLE_CACHE_CONTROL, cache_policy};
use reqwest::{Client, StatusCode, header};
use stack::start_stack;

/// A client that follows no redirects and decodes nothing: reqwest is built without its gzip
/// and brotli features, so it sends no Accept-Encoding unless a test does, and bodies arrive as
/// nginx sent them.
fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Every value `_headers` gives header `name` at `url`, read as Netlify and Cloudflare Pages
/// read it: each rule whose pattern matches applies, a `*` standing for any run of characters.
fn netlify_headers(headers_file: &str, url: &str, name: &str) -> Vec<String> {
    let prefix = format!("{name}: ");
    let mut values = Vec::new();
    let mut applies = false;
    for line in headers_file.lines() {
        if !line.starts_with(' ') {
            applies = match line.split_once('*') {
                Some((start, end)) => {
                    url.len() >= start.len() + end.len() && url.starts_with(start) && url.ends_with(end)
                }
                None => line == url,
            };
        } else if applies && let Some(value) = line.trim().strip_prefix(prefix.as_str()) {
            values.push(value.to_string());
        }
    }
    values
}

/// The one Cache-Control `_headers` gives `url`, if any: hosts join two into one broken value.
fn netlify_cache_control(headers_file: &str, url: &str) -> Option<String> {
    let mut values = netlify_headers(headers_file, url, "Cache-Control");
    assert!(values.len() <= 1, "{url} gets two policies: {values:?}");
    values.pop()
}

#[tokio::test]
async fn pages_are_served_with_clean_urls_merged_slashes_and_the_sites_own_404() {
    let Some(stack) = start_stack().await else { return };
    let client = client();

    let home = client.get(stack.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert_eq!(header(&home, "content-type"), Some("text/html; charset=utf-8"));
    let html = home.text().await.unwrap();
    assert!(html.contains("<title>Clean Water Now"), "the home page is the campaign's: {html}");

    let donate = stack.file("donate/index.html");
    for path in ["/donate/", "/donate", "//donate//", "/donate//"] {
        let page = client.get(stack.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.bytes().await.unwrap(), donate, "{path} answers the donate page");
    }

    let arabic = client.get(stack.url("/ar/")).send().await.unwrap();
    assert_eq!(arabic.status(), StatusCode::OK);
    let body = arabic.bytes().await.unwrap();
    assert_eq!(body, stack.file("ar/index.html"));
    let text = String::from_utf8(body.to_vec()).unwrap();
    // The build minifies HTML, which may drop an attribute value's quotes.
    let html_tag = text.split_once("<html").and_then(|(_, rest)| rest.split_once('>')).map(|(tag, _)| tag);
    let html_tag = html_tag.unwrap_or_default().replace('"', "");
    assert!(html_tag.contains("lang=ar") && html_tag.contains("dir=rtl"), "{text}");

    let not_found = stack.file("404.html");
    for path in ["/no-such-page/", "/no-such-page", "/ar/no-such-page/", "/theme-missing.css"] {
        let missing = client.get(stack.url(path)).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.bytes().await.unwrap(), not_found, "{path} shows the site's 404 page");
    }
}

#[tokio::test]
async fn precompressed_files_are_sent_as_built_with_the_builds_cache_rules() {
    let Some(stack) = start_stack().await else { return };
    let client = client();

    for (encoding, file) in [("br", "index.html.br"), ("gzip", "index.html.gz")] {
        let page = client.get(stack.url("/")).header(header::ACCEPT_ENCODING, encoding).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{encoding}");
        assert_eq!(header(&page, "content-encoding"), Some(encoding));
        assert_eq!(header(&page, "vary"), Some("Accept-Encoding"), "shared caches keep encodings apart");
        assert_eq!(page.bytes().await.unwrap(), stack.file(file), "{encoding}: the build's own {file}");
    }
    let plain = client.get(stack.url("/")).send().await.unwrap();
    assert_eq!(header(&plain, "content-encoding"), None, "no Accept-Encoding, no encoding");
    assert_eq!(plain.bytes().await.unwrap(), stack.file("index.html"));

    let rules = String::from_utf8(stack.file("_headers")).unwrap();
    for path in ["/", "/donate/", "/donate", "/ar/"] {
        let page = client.get(stack.url(path)).header(header::ACCEPT_ENCODING, "br").send().await.unwrap();
        let policy = header(&page, "cache-control").unwrap_or_else(|| panic!("{path} has no Cache-Control"));
        assert!(policy.contains("max-age=60") && policy.contains("stale-while-revalidate"), "{path}: {policy}");
        let url = if path.ends_with('/') { path.to_string() } else { format!("{path}/") };
        assert_eq!(Some(policy), netlify_cache_control(&rules, &url).as_deref(), "{path}: the same policy as _headers");
        assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"), "{path}");
        // The page headers reach the browser through nginx exactly as `_headers` states them.
        for name in ["Content-Security-Policy", "Strict-Transport-Security", "Referrer-Policy", "Permissions-Policy"] {
            let stated = netlify_headers(&rules, &url, name);
            assert_eq!(stated.len(), 1, "{url}: {name} once in _headers: {stated:?}");
            assert_eq!(header(&page, name), Some(stated[0].as_str()), "{path}: {name}");
        }
        assert!(!header(&page, "content-security-policy").unwrap().contains("unsafe-inline"));
    }

    let files = walk_files(&stack.release);
    let hashed = files.iter().find(|path| path.ends_with(".css") && is_fingerprinted(path)).expect("a hashed sheet");
    let original = files.iter().find(|path| path.ends_with(".css") && !is_fingerprinted(path)).expect("its original");
    for stylesheet in [hashed, original] {
        let css = client.get(stack.url(stylesheet)).send().await.unwrap();
        assert_eq!(css.status(), StatusCode::OK, "{stylesheet}");
        assert_eq!(header(&css, "content-type"), Some("text/css; charset=utf-8"), "{stylesheet}");
        let policy = header(&css, "cache-control").unwrap_or_else(|| panic!("{stylesheet} has no Cache-Control"));
        assert_eq!(policy, cache_policy(stylesheet), "{stylesheet}");
        assert_eq!(header(&css, "content-security-policy"), None, "nginx gives page headers to pages");
        assert_eq!(header(&css, "x-content-type-options"), Some("nosniff"));
    }
    // `_headers` agrees where it speaks: hashed files are immutable; originals get the host's
    // revalidating default, where nginx keeps them an hour.
    let hashed_rule = netlify_cache_control(&rules, &format!("/{hashed}"));
    assert_eq!(hashed_rule.as_deref(), Some(IMMUTABLE_CACHE_CONTROL));
    assert_eq!(netlify_cache_control(&rules, &format!("/{original}")), None);
    assert_eq!(cache_policy(original), ASSET_CACHE_CONTROL);
}

/// Every file of the build, as a path relative to it with `/` separators.
fn walk_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn build_artefacts_hidden_files_and_metrics_are_never_served() {
    let Some(stack) = start_stack().await else { return };
    let client = client();
    // Files that exist, so a 404 means nginx refused them rather than found nothing.
    for artefact in ["_headers", "_headers.nginx", "_manifest.json"] {
        assert!(stack.release.join(artefact).is_file(), "the build writes {artefact}");
    }
    std::fs::write(stack.release.join(".deploy-secret"), "not for the public").unwrap();
    std::fs::create_dir_all(stack.release.join(".git")).unwrap();
    std::fs::write(stack.release.join(".git/config"), "not for the public").unwrap();

    for path in
        ["/_headers", "/_headers.nginx", "/_manifest.json", "/.deploy-secret", "/.git/config", "/ar/.git/config"]
    {
        let refused = client.get(stack.url(path)).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{path}");
        let body = refused.text().await.unwrap();
        assert!(!body.contains("not for the public") && !body.contains("map $uri"), "{path}: {body}");
    }
    // The API does serve its metrics, on its own port, for operators to scrape.
    let direct = client.get(format!("http://127.0.0.1:{}/metrics", stack.api_port)).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::OK, "the API's own port serves /metrics");
    for path in ["/metrics", "/metrics/", "/metrics/anything"] {
        let metrics = client.get(stack.url(path)).send().await.unwrap();
        assert!(
            matches!(metrics.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{path} is not for the public: {}",
            metrics.status()
        );
    }
}

#[tokio::test]
async fn the_api_is_proxied_over_kept_alive_connections_and_donations_post_through() {
    let Some(stack) = start_stack().await else { return };
    let client = client();

    for path in ["/healthz", "/readyz"] {
        let health = client.get(stack.url(path)).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{path} through nginx");
    }

    let totals_url = stack.url("/api/v1/campaigns/clean-water/totals");
    let totals = client.get(&totals_url).send().await.unwrap();
    assert_eq!(totals.status(), StatusCode::OK);
    assert!(header(&totals, "content-type").unwrap().starts_with("application/json"));
    let etag = header(&totals, "etag").expect("the totals carry an ETag").to_string();
    let json: serde_json::Value = totals.json().await.unwrap();
    assert!(json["raised_minor"].is_i64(), "{json}");
    let unchanged = client.get(&totals_url).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    let posted = client
        .post(stack.url("/api/v1/donations"))
        .form(&[("campaign", "clean-water"), ("amount", "25"), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let location = header(&posted, "location").unwrap();
    assert!(location.starts_with(&stack.url("/sandbox/pay")), "the donor goes to the sandbox's page: {location}");

    let too_big = "x".repeat(100 * 1024);
    let refused = client
        .post(stack.url("/api/v1/donations"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("campaign=clean-water&amount=25&lang=en&padding={too_big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE, "nginx stops oversized bodies");

    // One request after another must ride on one kept-alive upstream connection: without
    // keep-alive nginx would open, and close, one per request.
    for _ in 0..10 {
        let totals = client.get(&totals_url).send().await.unwrap();
        assert_eq!(totals.status(), StatusCode::OK);
    }
    if let Some(connections) = established_connections_to(stack.api_port) {
        assert_eq!(connections, 1, "nginx keeps one upstream connection open and reuses it");
    }
}

/// Open TCP connections to `port` on 127.0.0.1, from `/proc/net/tcp` (Linux); `None` elsewhere.
fn established_connections_to(port: u16) -> Option<usize> {
    const ESTABLISHED: &str = "01";
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let remote = format!("0100007F:{port:04X}");
    Some(
        table
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&ESTABLISHED)
            })
            .count(),
    )
}
