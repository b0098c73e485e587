//! `spawn_app`: the real server on a random port against a fresh database (a new SQLite file,
//! or a PostgreSQL database of its own that is dropped afterwards), with the sandbox gateway's
//! hosted page mounted as the gateway the tests pay through.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use api::db::{CampaignTotals, Donation, Store, StoredEvent};
use api::domain::DonationId;
use api::gateway::sandbox::NotificationBody;
use api::gateway::sandbox::protocol;
use api::{Application, Settings};
use reqwest::{Response, StatusCode, Url};

pub const SECRET: &str = "test-sandbox-secret";
pub const ADMIN_TOKEN: &str = "test-admin-token";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body on both databases: `on_both_databases!(name);` declares
/// `name::sqlite` and `name::postgres` tests calling `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await.expect("SQLite is always there");
                super::$name(app).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )+};
}

/// Like `on_both_databases!`, with the settings changed first by `change`:
/// `on_both_databases_with!(fast_reconciler; name, …);`.
#[macro_export]
macro_rules! on_both_databases_with {
    ($change:ident; $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, super::$change)
                    .await
                    .expect("SQLite is always there");
                super::$name(app).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn_app_with($crate::helpers::Backend::Postgres, super::$change).await {
                    super::$name(app).await;
                }
            }
        }
    )+};
}

pub struct TestApp {
    pub url: Url,
    /// A client that does not follow redirects, so tests see each 303.
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    server: actix_web::dev::ServerHandle,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _database: TestDatabase,
}

pub fn config_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api").join(name)
}

/// What every test app runs with: the sandbox gateway and its hosted page, fast refreshes.
pub fn test_settings(database_url: &str, site_config: &std::path::Path) -> Settings {
    let mut settings = Settings::local("127.0.0.1:0", database_url, site_config).expect("valid settings");
    settings.sandbox_secret = Some(SECRET.to_string().into());
    settings.serve_sandbox_page = true;
    settings.totals_refresh_ms = 100;
    settings.click_flush_ms = 100;
    settings.admin_token = Some(ADMIN_TOKEN.to_string().into());
    settings.site_url = Some(Url::parse("https://site.test/").unwrap());
    // Every test posts from 127.0.0.1; `abuse.rs` sets the limits it tests.
    settings.donation_limit = 1_000_000;
    settings.click_limit_per_minute = 1_000_000;
    settings
}

/// `None` when PostgreSQL is wanted but absent and `PLEDGE_REQUIRE_SERVICES` is not set.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like `spawn_app`, with settings changed first.
pub async fn spawn_app_with(backend: Backend, change: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(spawn_on(database, change).await)
}

/// Another API process on the same database as `app` (as several nodes share PostgreSQL).
pub async fn spawn_sibling(app: &TestApp, change: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase { url: app.database_url().to_string(), cleanup: Cleanup::Borrowed };
    spawn_on(database, change).await
}

/// The app on a database the caller owns and cleans up (a throwaway server of its own).
pub async fn spawn_app_on(url: &str, change: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(TestDatabase { url: url.to_string(), cleanup: Cleanup::Borrowed }, change).await
}

async fn spawn_on(database: TestDatabase, change: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(&database.url, &config_path("site_config.toml"));
    change(&mut settings);
    let app = Application::build(settings).await.expect("the app starts");
    let url = app.public_url().clone();
    let server = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    let store = api::db::connect(&database.url).await.expect("a second connection to the test database");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { url, client, store, server, running: Some(running), _database: database }
}

impl TestApp {
    /// Stops the server as SIGTERM would (gracefully) and waits until it has shut down.
    pub async fn stop(&mut self) {
        self.server.stop(true).await;
        if let Some(running) = self.running.take() {
            running.await.expect("the server task").expect("a clean shutdown");
        }
    }

    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    pub fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.at(path)).send().await.expect("request sent")
    }

    pub async fn post_form(&self, fields: &[(&str, &str)]) -> Response {
        self.client.post(self.at("/api/v1/donations")).form(fields).send().await.expect("request sent")
    }

    pub async fn post_json(&self, body: serde_json::Value) -> Response {
        self.client.post(self.at("/api/v1/donations")).json(&body).send().await.expect("request sent")
    }

    /// Posts a donation form and returns the sandbox hosted-page URL it redirected to.
    pub async fn start_donation(&self, fields: &[(&str, &str)]) -> Url {
        let response = self.post_form(fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", response.text().await.unwrap_or_default());
        location(&response)
    }

    /// Does what a visitor does on the hosted page: looks at it, then pays or declines.
    /// Returns the gateway's redirect back to our return route.
    pub async fn choose_on_hosted_page(&self, hosted_page: &Url, choice: &str) -> Url {
        let page = self.client.get(hosted_page.clone()).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let mut fields: Vec<(String, String)> = hosted_page.query_pairs().into_owned().collect();
        fields.push(("choice".into(), choice.into()));
        let response = self.client.post(self.at("/sandbox/pay")).form(&fields).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        location(&response)
    }

    /// Follows the gateway's redirect to our return route; returns the result page's URL.
    pub async fn return_from_gateway(&self, return_url: &Url) -> Url {
        let response = self.client.get(return_url.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", response.text().await.unwrap_or_default());
        location(&response)
    }

    pub async fn donation(&self, hosted_page: &Url) -> Donation {
        let id = param(hosted_page, "merchant_reference");
        self.store.donation(&DonationId::parse(&id).unwrap()).await.unwrap().expect("the donation is stored")
    }

    pub async fn events(&self, donation: &Donation) -> Vec<StoredEvent> {
        self.store.payment_events(&donation.id).await.unwrap()
    }

    /// Waits until `count` events about the donation are on record (the notification is sent
    /// in the background), failing after five seconds.
    pub async fn wait_for_events(&self, donation: &Donation, count: usize) -> Vec<StoredEvent> {
        for _ in 0..100 {
            let events = self.events(donation).await;
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {count} events arrived for donation {}", donation.id.as_str());
    }

    pub async fn stored_totals(&self, slug: &str) -> CampaignTotals {
        self.store.campaign_totals().await.unwrap().into_iter().find(|t| t.slug == slug).expect("campaign stored")
    }

    /// The totals route's JSON.
    pub async fn totals(&self, slug: &str) -> serde_json::Value {
        self.get(&format!("/api/v1/campaigns/{slug}/totals")).await.json().await.unwrap()
    }

    /// Polls the totals route until `raised_minor` is `expected` (the snapshot refreshes in the background).
    pub async fn wait_for_raised(&self, slug: &str, expected: i64) -> serde_json::Value {
        let mut totals = serde_json::Value::Null;
        for _ in 0..100 {
            totals = self.totals(slug).await;
            if totals["raised_minor"] == expected {
                return totals;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("raised_minor never became {expected}: {totals}");
    }

    /// A notification signed as the sandbox gateway signs them, sent to the webhook.
    pub async fn send_notification(&self, body: &NotificationBody, timestamp: u64, secret: &str) -> Response {
        let bytes = serde_json::to_vec(body).unwrap();
        self.client
            .post(self.at("/api/v1/payments/sandbox/webhook"))
            .header("content-type", "application/json")
            .header(protocol::SIGNATURE_HEADER, protocol::sign_notification(secret.as_bytes(), timestamp, &bytes))
            .body(bytes)
            .send()
            .await
            .unwrap()
    }
}

pub fn location(response: &Response) -> Url {
    let location = response.headers().get("location").expect("a Location header").to_str().unwrap();
    Url::parse(location).expect("an absolute Location")
}

pub fn param(url: &Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another test app's database: that app cleans up.
    Borrowed,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("pledge.db").display());
                Some(Self { url, cleanup: Cleanup::Sqlite(dir) })
            }
            Backend::Postgres => {
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
                let name = format!("pledge_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create test database");
                admin.close().await;
                let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
                Some(Self { url: format!("{base}/{name}"), cleanup: Cleanup::Postgres { admin_url, name } })
            }
        }
    }
}

pub fn services_required() -> bool {
    std::env::var("PLEDGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on itself: use a thread.
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
            if let Ok(Err(error)) | Err(error) = dropped.map_err(|_| sqlx::Error::PoolClosed) {
                eprintln!("could not drop a test database: {error}");
            }
        }
    }
}
