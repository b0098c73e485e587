//! Starting the real `pledge serve` binary for tests, on a free port with a throwaway database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use url::Url;

/// The dashboard's password in tests.
#[allow(dead_code)] // each test binary includes this module; not all use everything
pub const ADMIN_TOKEN: &str = "test-dashboard-token";

/// A running `pledge serve`, stopped when dropped.
pub struct Served {
    child: Child,
    pub url: Url,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts `pledge serve --bind 127.0.0.1:0` on `root` and waits for the URL it prints.
pub fn serve(root: &Path) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(["serve", "--bind", "127.0.0.1:0", "--root"])
        .arg(root)
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.path().join("pledge.db").display()))
        .arg("--output-dir")
        .arg(dir.path().join("public"))
        .env("RUST_LOG", "warn")
        .env("PLEDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pledge starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).expect("reading pledge's output") > 0 {
        if let Some(rest) = line.split("running at ").nth(1) {
            let url = Url::parse(rest.split_whitespace().next().unwrap()).unwrap();
            // Keep reading what it prints next (the dashboard's login), or its next `println!`
            // would fail on a closed pipe and stop it.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return Served { child, url, _dir: dir };
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("pledge serve exited without printing its URL");
}

/// True when tests must fail rather than skip for a missing service (CI sets it).
#[allow(dead_code)] // each test binary includes this module; not all use everything
pub fn services_required() -> bool {
    std::env::var("PLEDGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}
