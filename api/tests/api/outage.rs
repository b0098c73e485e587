//! A database outage under load. A PostgreSQL server of this test's own (never the shared one:
//! stopping that would break every other test) is stopped for a few seconds while pollers read
//! the totals and donors post gifts. The totals keep answering from memory, marked stale; new
//! gifts get a 503 with `Retry-After`, as a page for form posts and as problem details for JSON;
//! nothing answers 500; and once the database is back the service recovers without a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, services_required, spawn_app_on};

/// How long the database stays down: longer than the totals take to be marked stale
/// (three refresh intervals plus two seconds), as a short restart or failover would be.
const OUTAGE: Duration = Duration::from_secs(4);
/// How long the service may take to notice the database is back, at most.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_serves_stale_totals_refuses_gifts_with_503_and_recovers() {
    let Some(cluster) = Cluster::start().await else { return };
    let app = spawn_app_on(&cluster.url(), |settings| {
        // Every donor here comes from 127.0.0.1; the per-address limit is not under test.
        settings.donation_limit = 1_000_000;
        settings.reconcile_interval_seconds = 0;
    })
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let before = client.get(app.at("/api/v1/campaigns/water/totals")).send().await.unwrap();
    assert_eq!(before.status(), StatusCode::OK);
    let fresh_etag = before.headers()["etag"].to_str().unwrap().to_string();

    let load = Load::start(&app, &client);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.pg_ctl(&["stop", "-m", "immediate"]).await;
    let stopped = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let restarting = Instant::now();
    cluster.pg_ctl(&["start", "-w"]).await;
    let restarted = Instant::now();
    // Keep the load on until every kind of request has been answered well for a while.
    while restarted.elapsed() < RECOVERY_DEADLINE && !load.recovered_since(restarted, Duration::from_secs(1)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let samples = load.stop().await;

    let report = Report::new(&samples, stopped, restarting, restarted);
    eprintln!("{report}");
    let faults: Vec<&Sample> = samples.iter().filter(|s| s.fault.is_some()).collect();
    assert!(faults.is_empty(), "{} answers were wrong, first: {:?}", faults.len(), faults.first());
    let during = |kind: Kind, status: u16| report.during.get(&(kind, status)).copied().unwrap_or(0);
    assert!(during(Kind::Totals, 200) + during(Kind::Totals, 304) > 0, "the totals answered during the outage");
    assert!(
        samples.iter().any(|s| s.kind == Kind::Totals && s.stale == Some(true) && s.sent >= stopped),
        "the totals were marked stale during the outage"
    );
    assert!(during(Kind::Form, 503) > 0, "form posts were refused with 503 during the outage");
    assert!(during(Kind::Json, 503) > 0, "JSON posts were refused with 503 during the outage");
    assert!(during(Kind::Ready, 503) > 0, "/readyz said not ready during the outage");
    for kind in Kind::ALL {
        assert!(report.recovery.contains_key(&kind), "{kind:?} never recovered after the database returned");
    }

    // Back to normal, without a restart: the same totals under the same tag as before, fresh.
    let totals = client.get(app.at("/api/v1/campaigns/water/totals")).send().await.unwrap();
    assert_eq!(totals.headers()["etag"].to_str().unwrap(), fresh_etag, "pending gifts changed no total");
    let body: serde_json::Value = totals.json().await.unwrap();
    assert_eq!((body["stale"].as_bool(), body.get("as_of")), (Some(false), None), "{body}");
    let unchanged =
        client.get(app.at("/api/v1/campaigns/water/totals")).header("if-none-match", &fresh_etag).send().await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    let gift = client.post(app.at("/api/v1/donations")).form(&[("campaign", "water"), ("amount", "25")]).send();
    assert_eq!(gift.await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(client.get(app.at("/readyz")).send().await.unwrap().status(), StatusCode::OK);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Totals,
    Form,
    Json,
    Ready,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Totals, Kind::Form, Kind::Json, Kind::Ready];
}

#[derive(Debug)]
struct Sample {
    kind: Kind,
    sent: Instant,
    /// `None` when no answer came in time.
    status: Option<u16>,
    /// How long the answer took.
    took: Duration,
    /// For totals answered with a body: whether it said it was stale.
    stale: Option<bool>,
    /// What was wrong with the answer, if anything.
    fault: Option<String>,
}

impl Sample {
    /// An answer the service gives when all is well (a refused gift or "not ready" is not one).
    fn is_normal(&self) -> bool {
        match self.kind {
            Kind::Totals => self.fault.is_none() && self.stale != Some(true),
            Kind::Form => self.status == Some(303),
            Kind::Json => self.status == Some(201),
            Kind::Ready => self.status == Some(200),
        }
    }
}

/// A light launch-day load: two pages polling the totals as `totals.js` does (with the last
/// ETag), a donor posting the form, a script posting JSON, and a load balancer's readiness probe.
struct Load {
    running: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(app: &TestApp, client: &reqwest::Client) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let every = [(Kind::Totals, 20), (Kind::Totals, 20), (Kind::Form, 100), (Kind::Json, 100), (Kind::Ready, 200)];
        for (kind, millis) in every {
            let (running, samples, client) = (running.clone(), samples.clone(), client.clone());
            let base = app.url.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = Seen::default();
                while running.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let sample = ask(&client, &base, kind, &mut seen, sent).await;
                    samples.lock().unwrap().push(sample);
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                }
            }));
        }
        Self { running, samples, tasks }
    }

    /// True when every kind of request has had only normal answers for `settled`, each
    /// beginning after `since`.
    fn recovered_since(&self, since: Instant, settled: Duration) -> bool {
        let samples = self.samples.lock().unwrap();
        Kind::ALL.iter().all(|&kind| recovered_at(&samples, kind, since).is_some_and(|at| at.elapsed() >= settled))
    }

    async fn stop(self) -> Vec<Sample> {
        self.running.store(false, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(self.samples).unwrap().into_inner().unwrap()
    }
}

/// When the answers of one kind became normal after `since` and stayed so.
fn recovered_at(samples: &[Sample], kind: Kind, since: Instant) -> Option<Instant> {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.kind == kind && s.sent >= since).collect();
    let abnormal = after.iter().rposition(|s| !s.is_normal());
    let first_normal = abnormal.map_or(0, |i| i + 1);
    after.get(first_normal).map(|s| s.sent)
}

/// The totals a poller holds, as `totals.js` keeps them: their tag and whether they were stale.
#[derive(Default)]
struct Seen {
    etag: String,
    stale: Option<bool>,
}

async fn ask(client: &reqwest::Client, base: &url::Url, kind: Kind, seen: &mut Seen, sent: Instant) -> Sample {
    let request = match kind {
        Kind::Totals => {
            let request = client.get(base.join("/api/v1/campaigns/water/totals").unwrap());
            if seen.etag.is_empty() { request } else { request.header("if-none-match", seen.etag.as_str()) }
        }
        Kind::Form => {
            client.post(base.join("/api/v1/donations").unwrap()).form(&[("campaign", "water"), ("amount", "25")])
        }
        Kind::Json => client
            .post(base.join("/api/v1/donations").unwrap())
            .json(&serde_json::json!({ "campaign": "water", "amount": 30 })),
        Kind::Ready => client.get(base.join("/readyz").unwrap()),
    };
    let mut sample = Sample { kind, sent, status: None, took: Duration::ZERO, stale: None, fault: None };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            sample.fault = Some(format!("no answer: {error}"));
            return sample;
        }
    };
    let status = response.status().as_u16();
    sample.status = Some(status);
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (content_type, retry_after, tag) = (header("content-type"), header("retry-after"), header("etag"));
    let body = response.text().await.unwrap_or_default();
    sample.took = sent.elapsed();
    sample.fault = match (kind, status) {
        // Not modified: still what the poller held, stale or not.
        (Kind::Totals, 304) => {
            sample.stale = seen.stale;
            None
        }
        (Kind::Totals, 200) => match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(totals) if totals["raised_minor"].is_i64() && totals["stale"].is_boolean() => {
                sample.stale = totals["stale"].as_bool();
                *seen = Seen { etag: tag, stale: sample.stale };
                None
            }
            _ => Some(format!("totals without numbers: {body}")),
        },
        (Kind::Form, 303) | (Kind::Json, 201) | (Kind::Ready, 200 | 503) => None,
        (Kind::Form, 503) if retry_after.is_empty() => Some("a 503 without Retry-After".into()),
        (Kind::Form, 503) if content_type.starts_with("text/html") && body.contains("try again") => None,
        (Kind::Json, 503) if retry_after.is_empty() => Some("a 503 without Retry-After".into()),
        (Kind::Json, 503) if content_type == "application/problem+json" && body.contains("\"status\":503") => None,
        _ => Some(format!("{status} {content_type}: {}", body.chars().take(300).collect::<String>())),
    };
    sample
}

/// Answers by kind and status in each phase, and how long each kind took to recover.
struct Report {
    before: BTreeMap<(Kind, u16), usize>,
    during: BTreeMap<(Kind, u16), usize>,
    after: BTreeMap<(Kind, u16), usize>,
    stale_during: usize,
    /// The slowest answer of each kind sent during the outage.
    slowest_during: BTreeMap<Kind, Duration>,
    outage: Duration,
    restart: Duration,
    recovery: BTreeMap<Kind, Duration>,
}

impl Report {
    /// "During" is what was sent while the database was stopped; "after" starts once
    /// `pg_ctl start` returned (while it starts, requests count in neither).
    fn new(samples: &[Sample], stopped: Instant, restarting: Instant, restarted: Instant) -> Self {
        let count = |from: Option<Instant>, to: Option<Instant>| {
            let mut counts = BTreeMap::new();
            for s in samples {
                if from.is_none_or(|f| s.sent >= f) && to.is_none_or(|t| s.sent < t) {
                    *counts.entry((s.kind, s.status.unwrap_or(0))).or_insert(0) += 1;
                }
            }
            counts
        };
        let stale_during =
            samples.iter().filter(|s| s.stale == Some(true) && s.sent >= stopped && s.sent < restarting).count();
        let mut slowest_during = BTreeMap::new();
        for s in samples.iter().filter(|s| s.sent >= stopped && s.sent < restarting) {
            let slowest = slowest_during.entry(s.kind).or_insert(Duration::ZERO);
            *slowest = (*slowest).max(s.took);
        }
        let recovery = Kind::ALL
            .iter()
            .filter_map(|&kind| recovered_at(samples, kind, restarted).map(|at| (kind, at - restarted)))
            .collect();
        Self {
            before: count(None, Some(stopped)),
            during: count(Some(stopped), Some(restarting)),
            after: count(Some(restarted), None),
            stale_during,
            slowest_during,
            outage: restarting - stopped,
            restart: restarted - restarting,
            recovery,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "outage {:?} (pg_ctl start took {:?})", self.outage, self.restart)?;
        for (phase, counts) in [("before", &self.before), ("during", &self.during), ("after", &self.after)] {
            let cells: Vec<String> = counts.iter().map(|((k, s), n)| format!("{k:?} {s}: {n}")).collect();
            writeln!(f, "{phase:>6}: {}", cells.join(", "))?;
        }
        writeln!(f, "stale totals answers during the outage: {}", self.stale_during)?;
        let cells: Vec<String> = self.slowest_during.iter().map(|(k, d)| format!("{k:?} {d:?}")).collect();
        writeln!(f, "slowest answer during the outage: {}", cells.join(", "))?;
        let cells: Vec<String> = self.recovery.iter().map(|(k, d)| format!("{k:?} {d:?}")).collect();
        write!(f, "normal again after pg_ctl start returned: {}", cells.join(", "))
    }
}

/// A PostgreSQL server in a temporary folder on a free port, stopped and removed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: as root, every command runs as `postgres`.
    as_postgres: bool,
}

impl Cluster {
    /// `None` (the test skips) when PostgreSQL is not installed and services are not required.
    async fn start() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            assert!(!services_required(), "PLEDGE_REQUIRE_SERVICES is set but initdb was not found");
            eprintln!("skipping: no PostgreSQL binaries (initdb) found");
            return None;
        };
        let as_postgres = run(Command::new("id").arg("-u")).stdout.trim_ascii() == b"0";
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { dir, bin, port, as_postgres };
        let data = cluster.data();
        let mut init = cluster.command("initdb");
        run(init.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync"]));
        cluster.pg_ctl(&["start", "-w"]).await;
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// `pg_ctl` with the server's options; `fsync=off` because this server only has to
    /// survive its own stops, not a power cut, and flushes would slow the shared machine.
    async fn pg_ctl(&self, args: &[&str]) {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(self.data()).arg("-l").arg(self.dir.path().join("log")).args(args);
        command.arg("-o").arg(format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        ));
        let log = self.dir.path().join("log");
        tokio::task::spawn_blocking(move || {
            let output = command.output().expect("pg_ctl runs");
            let log = std::fs::read_to_string(log).unwrap_or_default();
            assert!(output.status.success(), "pg_ctl failed: {}\n{log}", String::from_utf8_lossy(&output.stderr));
        })
        .await
        .unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        let _ = stop.arg("-D").arg(self.data()).args(["stop", "-m", "immediate"]).output();
    }
}

/// `PLEDGE_TEST_POSTGRES_BIN`, else `pg_config --bindir`, else the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin` (where `initdb` is not on the PATH).
fn postgres_bin() -> Option<PathBuf> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("PLEDGE_TEST_POSTGRES_BIN").map(PathBuf::from) {
        return has_initdb(&dir).then_some(dir);
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| has_initdb(d)) {
        return Some(dir);
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_initdb(dir))
        .max()
        .map(|(_, dir)| dir)
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?} could not run: {e}"));
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}
