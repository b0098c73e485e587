//! The published OpenAPI document against the real `pledge api`: Schemathesis (PyPI) generates
//! requests from the document, valid and invalid, and checks every answer against it (no 5xx,
//! documented status codes, content types, headers and bodies; invalid input refused).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Not `tests/common`: its `pledge serve` helpers would be dead code in this binary.
const ADMIN_TOKEN: &str = "schemathesis-admin-token";

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when tests must fail rather than skip for a missing service (CI sets it).
fn services_required() -> bool {
    std::env::var("PLEDGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `pledge api` on a fresh SQLite file, stopped when dropped.
struct Api {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .arg("api")
        .env("PLEDGE_DATABASE_URL", format!("sqlite:{}", dir.path().join("pledge.db").display()))
        .env("PLEDGE_SITE_CONFIG", project_root().join("site/config.toml"))
        .env("PLEDGE_BIND", format!("127.0.0.1:{port}"))
        .env("PLEDGE_PUBLIC_URL", format!("http://127.0.0.1:{port}/"))
        .env("PLEDGE_SITE_URL", "https://site.test/")
        .env("PLEDGE_SANDBOX_SECRET", "schemathesis-sandbox-secret")
        .env("PLEDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        // Room for the logic behind the per-visitor limits to be tested, not only their 429.
        .env("PLEDGE_REFERRAL_CREATIONS_PER_HOUR", "100000")
        .env("PLEDGE_CLIENT_ERRORS_PER_MINUTE", "100000")
        .env("PLEDGE_DONATION_LIMIT", "100000")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pledge api starts");
    let api = Api { child, port, _dir: dir };
    let started = Instant::now();
    while !healthy(port) {
        assert!(started.elapsed() < Duration::from_secs(60), "pledge api did not answer /healthz");
        std::thread::sleep(Duration::from_millis(50));
    }
    api
}

fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let request = "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// Schemathesis's `st` command, when installed.
fn schemathesis() -> Option<Command> {
    let installed = Command::new("st").arg("--version").output().is_ok_and(|out| out.status.success());
    installed.then(|| Command::new("st"))
}

#[test]
fn the_api_answers_what_its_openapi_document_says() {
    let Some(mut st) = schemathesis() else {
        assert!(!services_required(), "schemathesis is not installed (python3 -m pip install schemathesis)");
        eprintln!("skipped: schemathesis is not installed");
        return;
    };
    let api = start_api();
    let report = tempfile::tempdir().unwrap();
    let output = st
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/api/v1/openapi.json", api.port))
        .args(["--checks", "all"])
        // Left out, and why: `positive_data_acceptance` expects every schema-valid body to be
        // taken, but which campaigns exist and which amounts they take come from the site's
        // config, not the static document (an unknown campaign is a 422 by design);
        // `unsupported_method` wants 405 for undeclared methods, and actix answers 404.
        .args(["--exclude-checks", "positive_data_acceptance,unsupported_method"])
        .args(["--max-examples", "20", "--seed", "1", "--request-timeout", "10"])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .arg("--report-dir")
        .arg(report.path())
        .arg("--no-color")
        // Its cache folder goes there too, not into the project.
        .current_dir(report.path())
        .output()
        .expect("schemathesis runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found failures:\n{printed}");
    // The summary's "Test cases:" line starts with "N generated".
    let generated = printed
        .lines()
        .filter_map(|line| line.trim().split_once(" generated"))
        .find_map(|(count, _)| count.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(generated > 100, "schemathesis ran too few test cases ({generated}):\n{printed}");
    let summary: Vec<&str> = printed.lines().filter(|l| l.contains("Tested:") || l.contains(" generated,")).collect();
    eprintln!("schemathesis: {generated} test cases passed ({})", summary.join("; ").trim());
}
