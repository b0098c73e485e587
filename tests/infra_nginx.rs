//! The production nginx configuration (`infra/nginx/pledge.conf`) run for real: the reference
//! site built by the binary into a release folder behind a `current` symlink, `pledge api` alone
//! on SQLite, and nginx in front with the repository's file, changed only where a test must
//! (paths, ports). Skips without nginx and its brotli module unless services are required.

// Only `project_root` and `services_required`: this test starts its own processes, not `pledge serve`.
#[allow(dead_code)]
mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use generator::optimize::fingerprint::is_fingerprinted;
use generator::postprocess::{ASSET_CACHE_CONTROL, IMMUTABLE_CACHE_CONTROL, cache_policy};
use reqwest::{Client, StatusCode, header};

const BROTLI_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

/// A child process stopped when dropped, so a failing assertion leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx's master process. Killing it would orphan its worker, which would keep serving (and
/// holding the test's output open), so it is stopped the way an operator stops it.
struct Nginx {
    master: Child,
    stop: Command,
    error_log: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.error_log).unwrap_or_default();
            eprintln!("nginx's error log:\n{log}");
        }
        let _ = self.stop.arg("-s").arg("stop").stdout(Stdio::null()).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// The built site, the API and nginx in front of them.
struct Stack {
    /// nginx's address, ending in `/`.
    url: String,
    api_port: u16,
    /// The release `current` points at, to compare answers with the files on disk.
    release: PathBuf,
    // Dropped in this order: nginx, then the API, then the folder they use.
    _nginx: Nginx,
    _api: Running,
    _dir: tempfile::TempDir,
}

impl Stack {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    fn file(&self, path: &str) -> Vec<u8> {
        let path = self.release.join(path);
        std::fs::read(&path).unwrap_or_else(|e| panic!("the build has no {}: {e}", path.display()))
    }
}

fn nginx_binary() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("PLEDGE_NGINX").map(PathBuf::from), Some("nginx".into()), Some("/usr/sbin/nginx".into())];
    candidates.into_iter().flatten().find(|nginx| {
        Command::new(nginx).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

/// nginx and the brotli module the configuration needs, or a skip (a failure in CI).
fn nginx_or_skip() -> Option<PathBuf> {
    let missing = match nginx_binary() {
        None => "nginx",
        Some(_) if !Path::new(BROTLI_MODULE).exists() => {
            "nginx's brotli_static module (libnginx-mod-http-brotli-static)"
        }
        Some(nginx) => return Some(nginx),
    };
    assert!(!common::services_required(), "{missing} is required (PLEDGE_REQUIRE_SERVICES=1) but not installed");
    eprintln!("skipping: {missing} is not installed");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Replaces the one active (uncommented) line containing `from`, so the test breaks if the
/// configuration changes shape instead of silently testing something else.
fn replace_directive(conf: &str, from: &str, to: &str) -> String {
    let mut replaced = 0;
    let lines: Vec<String> = conf
        .lines()
        .map(|line| {
            if !line.trim_start().starts_with('#') && line.contains(from) {
                replaced += 1;
                line.replace(from, to)
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "infra/nginx/pledge.conf should have exactly one active `{from}`");
    lines.join("\n") + "\n"
}

/// The effective user is root: nginx's workers must then run as root too, or they could not
/// read the temporary folder (mode 0700). `/proc/self` belongs to the process's effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn build_release(root: &Path, release: &Path) {
    std::fs::create_dir_all(release.parent().unwrap()).unwrap();
    let built = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(["build", "--root"])
        .arg(root)
        .arg("--output-dir")
        .arg(release)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(built.status.success(), "pledge build failed: {}", String::from_utf8_lossy(&built.stderr));
}

async fn start_api(dir: &Path, api_port: u16, public_url: &str) -> Running {
    let root = common::project_root();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pledge"));
    // Only the settings below: a PLEDGE_* variable of the caller's (CI sets some) must not
    // change what is tested.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PLEDGE_") {
            command.env_remove(name);
        }
    }
    let child = command
        .arg("api")
        .env("PLEDGE_DATABASE_URL", format!("sqlite:{}", dir.join("pledge.db").display()))
        .env("PLEDGE_SITE_CONFIG", root.join("site/config.toml"))
        .env("PLEDGE_BIND", format!("127.0.0.1:{api_port}"))
        .env("PLEDGE_PUBLIC_URL", public_url)
        .env("PLEDGE_SITE_URL", public_url)
        .env("PLEDGE_SANDBOX_SECRET", "infra-test-sandbox-secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pledge api starts");
    let mut api = Running(child);
    // No pooled connections: the keep-alive check counts the API's connections later.
    let probe = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let healthz = format!("http://127.0.0.1:{api_port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = api.0.try_wait() {
            panic!("pledge api exited with {status}");
        }
        if probe.get(&healthz).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return api;
        }
        assert!(Instant::now() < deadline, "pledge api did not answer /healthz within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The repository's site configuration inside a minimal main `nginx.conf` of our own, so
/// nothing of the machine's nginx setup (or port 80) is used.
fn write_nginx_conf(dir: &Path, current: &Path, api_port: u16, nginx_port: u16) -> PathBuf {
    let site_conf = std::fs::read_to_string(common::project_root().join("infra/nginx/pledge.conf")).unwrap();
    let current = current.display();
    let site_conf = replace_directive(&site_conf, "root /srv/pledge/site/current;", &format!("root {current};"));
    let site_conf = replace_directive(
        &site_conf,
        "include /srv/pledge/site/current/_headers.nginx;",
        &format!("include {current}/_headers.nginx;"),
    );
    let site_conf = replace_directive(&site_conf, "server 127.0.0.1:8080;", &format!("server 127.0.0.1:{api_port};"));
    let site_conf = replace_directive(&site_conf, "listen 80;", &format!("listen 127.0.0.1:{nginx_port};"));
    std::fs::write(dir.join("pledge.conf"), site_conf).unwrap();

    let tmp = dir.display();
    let user = if running_as_root() { "user root;\n" } else { "" };
    let main_conf = format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         {user}\
         pid {tmp}/nginx.pid;\n\
         error_log {tmp}/error.log warn;\n\
         load_module {BROTLI_MODULE};\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20   include /etc/nginx/mime.types;\n\
         \x20   default_type application/octet-stream;\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {tmp}/client_body;\n\
         \x20   proxy_temp_path {tmp}/proxy;\n\
         \x20   fastcgi_temp_path {tmp}/fastcgi;\n\
         \x20   uwsgi_temp_path {tmp}/uwsgi;\n\
         \x20   scgi_temp_path {tmp}/scgi;\n\
         \x20   include {tmp}/pledge.conf;\n\
         }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, main_conf).unwrap();
    path
}

fn nginx_command(nginx: &Path, dir: &Path, conf: &Path) -> Command {
    let mut command = Command::new(nginx);
    // `-e` before the configuration is read, so nginx never opens the machine's error log.
    command.arg("-p").arg(dir).arg("-e").arg(dir.join("startup-error.log")).arg("-c").arg(conf);
    command
}

async fn start_stack() -> Option<Stack> {
    let nginx = nginx_or_skip()?;
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("site/releases/r1");
    build_release(&common::project_root(), &release);
    // Deploys switch this symlink; nginx must follow it.
    let current = dir.path().join("site/current");
    std::os::unix::fs::symlink(&release, &current).unwrap();

    let api_port = free_port();
    let nginx_port = free_port();
    let url = format!("http://127.0.0.1:{nginx_port}/");
    let api = start_api(dir.path(), api_port, &url).await;

    let conf = write_nginx_conf(dir.path(), &current, api_port, nginx_port);
    let checked = nginx_command(&nginx, dir.path(), &conf).arg("-t").output().unwrap();
    assert!(
        checked.status.success(),
        "nginx -t refused the configuration:\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let master = nginx_command(&nginx, dir.path(), &conf).stdin(Stdio::null()).spawn().unwrap();
    let nginx =
        Nginx { master, stop: nginx_command(&nginx, dir.path(), &conf), error_log: dir.path().join("error.log") };

    let stack = Stack { url, api_port, release: release.canonicalize().unwrap(), _nginx: nginx, _api: api, _dir: dir };
    let probe = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    // Any answer will do: what it answers is for the tests to judge, with their own messages.
    while probe.get(stack.url("/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "nginx did not answer within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(stack)
}

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
