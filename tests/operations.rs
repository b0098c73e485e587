//! What operators rely on, through the real `pledge` binary: the uptime check, errors reaching
//! Sentry, JSON logs with request ids, and a graceful stop that finishes the donation in flight.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{project_root, serve};
use url::Url;

fn pledge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pledge")).args(args).env("RUST_LOG", "warn").output().expect("pledge runs")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A one-request-at-a-time HTTP server on a thread: `answer` gets the request line and body and
/// returns status, content type and body. Every request is also sent to the returned channel.
fn fake_server(
    answer: impl Fn(&str, &[u8]) -> (u16, &'static str, String) + Send + 'static,
) -> (Url, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let (seen, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Some((line, body)) = read_request(&stream) else { continue };
            let _ = seen.send((line.clone(), body.clone()));
            let (status, content_type, text) = answer(&line, &body);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, requests)
}

fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line.trim().to_string(), body))
}

/// `pledge api` on a fresh SQLite file in `dir`, its log lines collected as they come.
struct ApiProcess {
    child: Child,
    url: Url,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ApiProcess {
    fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_pledge"));
        command
            .arg("api")
            .env("PLEDGE_DATABASE_URL", format!("sqlite:{}", dir.join("pledge.db").display()))
            .env("PLEDGE_SITE_CONFIG", project_root().join("site/config.toml"))
            .env("PLEDGE_BIND", format!("127.0.0.1:{port}"))
            .env("PLEDGE_PUBLIC_URL", url.as_str())
            .env("PLEDGE_SITE_URL", "https://site.test/")
            .env("PLEDGE_RECONCILE_INTERVAL_SECONDS", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("pledge api starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let collected = logs.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let process = Self { child, url, logs };
        process.wait_until(Duration::from_secs(30), || answers_ok(&process.url.join("healthz").unwrap()));
        process
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    fn wait_until(&self, limit: Duration, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < limit, "gave up waiting; the API logged:\n{}", self.logs().join("\n"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

/// A blocking probe (the test thread waits on it), without reqwest's blocking client.
fn answers_ok(url: &Url) -> bool {
    let Ok(mut stream) = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())) else {
        return false;
    };
    let request = format!("GET {} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", url.path());
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

#[test]
fn the_uptime_check_passes_on_a_live_site_and_says_what_is_down() {
    let served = serve(&project_root());
    let ok = pledge(&["check", "--live", served.url.as_str()]);
    let printed = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{printed}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(printed.contains("ok  site") && printed.contains("ok  api") && printed.contains("ok  totals"), "{printed}");

    let nothing = format!("http://127.0.0.1:{}/", free_port());
    let down = pledge(&["check", "--live", &nothing, "--timeout-seconds", "2"]);
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(!down.status.success());
    assert!(said.contains("site") && said.contains("could not connect"), "{said}");

    let (sick, _) = fake_server(|line, _| match line.split_whitespace().nth(1) {
        Some("/") => (200, "text/html; charset=utf-8", "<!doctype html><html><body>home</body></html>".into()),
        _ => (503, "text/plain", "database unreachable".into()),
    });
    let not_ready = pledge(&["check", "--live", sick.as_str()]);
    let said = String::from_utf8_lossy(&not_ready.stderr);
    assert!(!not_ready.status.success());
    assert!(said.contains("api") && said.contains("503") && said.contains("database unreachable"), "{said}");
}

#[tokio::test]
async fn a_server_error_reaches_sentry_and_the_json_log_names_its_request() {
    let (sentry, envelopes) = fake_server(|_, _| (200, "application/json", "{}".into()));
    let dsn = format!("http://public@127.0.0.1:{}/42", sentry.port().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let api = ApiProcess::start(
        dir.path(),
        &[
            ("PLEDGE_SANDBOX_SECRET", "s".into()),
            ("PLEDGE_SENTRY_DSN", dsn),
            ("PLEDGE_SENTRY_ENVIRONMENT", "ci".into()),
        ],
    );

    // A real fault: the donations table disappears under the running API.
    let database = format!("sqlite:{}", dir.path().join("pledge.db").display());
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    sqlx::query("ALTER TABLE donations RENAME TO donations_gone").execute(&pool).await.unwrap();
    pool.close().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let failed = client
        .post(api.url.join("api/v1/donations").unwrap())
        .header("accept", "application/json")
        .header("x-request-id", "edge-4711")
        .json(&serde_json::json!({"campaign": "clean-water", "amount": "25", "lang": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    let problem = failed.text().await.unwrap();
    assert!(!problem.contains("donations_gone") && !problem.contains("no such table"), "opaque to clients: {problem}");

    let started = Instant::now();
    let event = loop {
        let remaining = Duration::from_secs(15).saturating_sub(started.elapsed());
        let (line, body) = envelopes.recv_timeout(remaining).expect("an envelope reaches Sentry");
        let body = String::from_utf8_lossy(&body).into_owned();
        if line.contains("/api/42/envelope/") && body.contains("no such table") {
            break body;
        }
    };
    assert!(event.contains("\"environment\":\"ci\""), "{event}");
    assert!(event.contains("pledge@"), "the release is named: {event}");

    let logs = api.logs();
    let failure = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["message"] == "request failed")
        .unwrap_or_else(|| panic!("a JSON line for the failure in:\n{}", logs.join("\n")));
    let request_id = failure["span"]["request_id"].as_str().unwrap_or_default();
    assert_eq!(request_id.len(), 36, "a request id (UUID) on the line: {failure}");
    assert_eq!(failure["span"]["edge_request_id"], "edge-4711", "and the proxy's id for it: {failure}");
    assert!(failure["error"].as_str().unwrap().contains("no such table"), "{failure}");
}

#[tokio::test]
async fn a_stopping_api_finishes_the_donation_in_flight_and_loses_nothing() {
    // A gateway that takes a second and a half to open a checkout, so SIGTERM lands mid-request.
    let (stripe, calls) = fake_server(|_, _| {
        std::thread::sleep(Duration::from_millis(1500));
        (200, "application/json", r#"{"id":"cs_test_slow","url":"https://checkout.stripe.test/c/cs_test_slow"}"#.into())
    });
    let dir = tempfile::tempdir().unwrap();
    let mut api = ApiProcess::start(
        dir.path(),
        &[
            ("PLEDGE_STRIPE_SECRET_KEY", "sk_test_x".into()),
            ("PLEDGE_STRIPE_WEBHOOK_SECRET", "whsec_x".into()),
            ("PLEDGE_STRIPE_API_BASE", stripe.to_string()),
        ],
    );
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let donation = tokio::spawn(
        client
            .post(api.url.join("api/v1/donations").unwrap())
            .form(&[("campaign", "clean-water"), ("amount", "25"), ("lang", "en")])
            .send(),
    );
    let (line, _) = tokio::task::spawn_blocking(move || calls.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the API asked the gateway for a checkout");
    assert!(line.contains("/v1/checkout/sessions"), "{line}");
    api.terminate();

    let answered = donation.await.unwrap().expect("the request in flight is answered");
    assert_eq!(answered.status(), 303);
    assert_eq!(answered.headers()["location"], "https://checkout.stripe.test/c/cs_test_slow");
    let status = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = api.child.try_wait().unwrap() {
                return (status, api.logs());
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the API did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (status, logs) = status.await.unwrap();
    assert!(status.success(), "a clean exit: {status:?}\n{}", logs.join("\n"));
    assert!(logs.iter().any(|l| l.contains("referral clicks written at shutdown")), "{}", logs.join("\n"));

    let database = format!("sqlite:{}", dir.path().join("pledge.db").display());
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    let (status, reference): (String, Option<String>) =
        sqlx::query_as("SELECT status, gateway_reference FROM donations").fetch_one(&pool).await.unwrap();
    assert_eq!((status.as_str(), reference.as_deref()), ("pending", Some("cs_test_slow")), "written whole");
}

#[tokio::test]
async fn debug_logs_carry_no_secret_and_no_donor_data() {
    let dir = tempfile::tempdir().unwrap();
    let (sandbox, admin) = ("sandbox-secret-4d1c9b", "admin-token-8e2f77");
    let api = ApiProcess::start(
        dir.path(),
        &[
            ("PLEDGE_SANDBOX_SECRET", sandbox.into()),
            ("PLEDGE_SERVE_SANDBOX_PAGE", "true".into()),
            ("PLEDGE_ADMIN_TOKEN", admin.into()),
            ("RUST_LOG", "debug".into()),
        ],
    );
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let gift = client
        .post(api.url.join("api/v1/donations").unwrap())
        .header("x-forwarded-for", "203.0.113.77")
        .form(&[("campaign", "clean-water"), ("amount", "25"), ("display_name", "Zainab Qasimova")])
        .send()
        .await
        .unwrap();
    assert_eq!(gift.status(), 303, "{}", gift.text().await.unwrap());
    let hosted_page = gift.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(client.get(&hosted_page).send().await.unwrap().status(), 200);
    let dashboard = client.get(api.url.join("admin/").unwrap()).bearer_auth(admin).send().await.unwrap();
    assert_eq!(dashboard.status(), 200);
    let refused = client.get(api.url.join("admin/").unwrap()).bearer_auth("wrong-token-3a7c").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // Let the debug lines of the settlement and the click flusher be written.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let logs = api.logs().join("\n");
    assert!(logs.contains("HTTP request"), "debug logging was on: {logs}");
    for private in [sandbox, admin, "wrong-token-3a7c", "Zainab", "Qasimova", "203.0.113.77", "client_ip"] {
        assert!(!logs.contains(private), "the log holds {private}:\n{logs}");
    }
}
