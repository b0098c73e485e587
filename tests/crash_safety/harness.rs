//! The crash-safety test's processes and databases: `pledge api` started and killed on one
//! port and one database as a supervisor would, a PostgreSQL database of the test's own, and
//! plain SQL to check the rows.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use url::Url;

use crate::SECRET;

/// Plain SQL beside the store, so the totals are checked against the rows themselves.
pub(crate) enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    pub(crate) async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqlitePool::connect(url).await.unwrap())
        } else {
            Self::Postgres(sqlx::PgPool::connect(url).await.unwrap())
        }
    }

    /// `sql` selects a name and a number per row.
    pub(crate) async fn by_campaign(&self, sql: &str) -> BTreeMap<String, i64> {
        let rows: Vec<(String, i64)> = match self {
            Self::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Self::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        }
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
        rows.into_iter().collect()
    }

    /// `sql` selects one number.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }
}

/// Starts `pledge api` processes on one database and one port, as a supervisor restarts it.
pub(crate) struct Launcher {
    database_url: String,
    site_config: PathBuf,
    port: u16,
    pub(crate) url: Url,
    /// The last lines every process logged, for failure messages.
    logs: Arc<Mutex<VecDeque<String>>>,
}

impl Launcher {
    pub(crate) fn new(database_url: &str, site_config: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self {
            database_url: database_url.to_string(),
            site_config: site_config.to_path_buf(),
            port,
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            logs: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    pub(crate) fn spawn(&self) -> ApiProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pledge"))
            .arg("api")
            .env("PLEDGE_DATABASE_URL", &self.database_url)
            .env("PLEDGE_SITE_CONFIG", &self.site_config)
            .env("PLEDGE_BIND", format!("127.0.0.1:{}", self.port))
            .env("PLEDGE_PUBLIC_URL", self.url.as_str())
            .env("PLEDGE_SITE_URL", "https://site.test/")
            .env("PLEDGE_SANDBOX_SECRET", SECRET)
            // The test is the only gateway: no reconciler applying events behind its back.
            .env("PLEDGE_RECONCILE_INTERVAL_SECONDS", "0")
            .env("PLEDGE_TOTALS_REFRESH_MS", "100")
            .env("PLEDGE_DONATION_LIMIT", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pledge api starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let logs = self.logs.clone();
        let pid = child.id();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut logs = logs.lock().unwrap();
                if logs.len() == 200 {
                    logs.pop_front();
                }
                logs.push_back(format!("[{pid}] {line}"));
            }
        });
        ApiProcess { child }
    }

    pub(crate) fn logs(&self) -> String {
        let logs = self.logs.lock().unwrap();
        format!("the API logged:\n{}", logs.iter().cloned().collect::<Vec<_>>().join("\n"))
    }
}

pub(crate) struct ApiProcess {
    child: Child,
}

impl ApiProcess {
    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, no flush, no goodbye. Only the
    /// test may stop it: one that exited by itself (a panic, a failed start) fails the test.
    pub(crate) fn kill(&mut self, launcher: &Launcher) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the API stopped by itself ({status}); {}", launcher.logs());
        }
        self.child.kill().expect("the API is killed");
        self.child.wait().expect("the killed API is reaped");
    }

    pub(crate) async fn wait_until_healthy(&mut self, launcher: &Launcher, http: &reqwest::Client) {
        let url = launcher.url.join("healthz").unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the API exited while starting ({status}); {}", launcher.logs());
            }
            let answer = http.get(url.clone()).timeout(Duration::from_millis(500)).send().await;
            if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(Instant::now() < deadline, "the API did not start in 30 s; {}", launcher.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when tests must fail rather than skip for a missing service (CI sets it). The shared
/// `tests/common` has it too, but its other helpers would be dead code in this binary.
fn services_required() -> bool {
    std::env::var("PLEDGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A PostgreSQL database of the test's own, dropped afterwards.
pub(crate) struct PostgresDatabase {
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// `None` (the test skips) when PostgreSQL is absent, unless services are required.
    pub(crate) async fn create() -> Option<Self> {
        let admin_url = std::env::var("PLEDGE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = match sqlx::PgPool::connect(&admin_url).await {
            Ok(pool) => pool,
            Err(error) if !services_required() => {
                eprintln!("skipping: PostgreSQL unavailable at {admin_url}: {error}");
                return None;
            }
            Err(error) => panic!("PLEDGE_REQUIRE_SERVICES is set but PostgreSQL is unavailable: {error}"),
        };
        let name = format!("pledge_crash_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("a test database");
        admin.close().await;
        let server = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(server, _)| server);
        Some(Self { url: format!("{server}/{name}"), admin_url, name })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // The test's runtime cannot block on itself here: drop from a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let admin = sqlx::PgPool::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await?;
                admin.close().await;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}: {dropped:?}", self.name);
        }
    }
}
