//! `pledge serve`: the API, the sandbox gateway and the built pages on one port, with a rebuild
//! and a browser reload whenever a source file changes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{HttpResponse, web};
use anyhow::Context;
use api::totals::TotalsCache;
use generator::live::Rebuilt;
use generator::{BuildOptions, CampaignProgress, SitePaths};
use notify::{RecursiveMode, Watcher};
use tokio::sync::broadcast;

/// Closing the stream on `pagehide` matters: browsers allow six connections per host, and
/// streams left open by pages in the back-forward cache would stall the seventh page.
const LIVE_RELOAD_JS: &str = "const events = new EventSource('/__pledge/events');\n\
events.onmessage = () => location.reload();\n\
addEventListener('pagehide', () => events.close());\n";

pub async fn serve(paths: SitePaths, bind: &str, database_url: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(&paths.output).with_context(|| format!("creating {}", paths.output.display()))?;
    let mut settings = api::Settings::local(bind, database_url, &paths.config)?;
    // A fresh secret per run: the sandbox gateway and our adapter are the same process.
    settings.sandbox_secret = Some(uuid::Uuid::new_v4().simple().to_string().into());
    settings.serve_sandbox_page = true;
    settings.shutdown_timeout_seconds = 1;
    // One developer's browser and local load tests all come from one address: the per-address
    // limits of a public API would only get in their way here.
    settings.donation_limit = u32::MAX;
    settings.click_limit_per_minute = u32::MAX;
    // The dashboard's password: PLEDGE_ADMIN_TOKEN when set (never printed), else a fresh one
    // per run, printed below.
    let configured = std::env::var("PLEDGE_ADMIN_TOKEN").ok().filter(|t| !t.is_empty());
    let password = match &configured {
        Some(_) => "the value of PLEDGE_ADMIN_TOKEN".to_string(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    settings.admin_token = Some(configured.unwrap_or_else(|| password.clone()).into());

    let (reload, _) = broadcast::channel::<()>(16);
    let output = paths.output.clone();
    let reload_sender = reload.clone();
    let app = api::Application::build_with(settings, move |config| dev_routes(config, &output, &reload_sender))
        .await
        .context("starting the API")?;
    let base_url = app.public_url().as_str().trim_end_matches('/').to_string();
    let live = generator::live::LiveBuild::new(paths.clone());
    let mut site = DevSite { paths, live, base_url: base_url.clone(), totals: app.totals(), reload };
    site.rebuild(&[]);
    println!("Pledge is running at {base_url}/ (API at {base_url}/api/v1/, press Ctrl-C to stop)");
    println!("Dashboard: {base_url}/admin/ (user admin, password {password})");

    let watcher = site.watch()?;
    let served = app.run_until_stopped().await.context("server failed");
    drop(watcher);
    served
}

struct DevSite {
    paths: SitePaths,
    live: generator::live::LiveBuild,
    base_url: String,
    totals: TotalsCache,
    reload: broadcast::Sender<()>,
}

impl DevSite {
    /// Builds with the live totals, again only what `changed` touched when it can; on failure
    /// the last good pages stay up.
    fn rebuild(&mut self, changed: &[PathBuf]) {
        let progress = self
            .totals
            .all()
            .into_iter()
            .map(|t| (t.slug, CampaignProgress { raised_minor: t.raised_minor, donors: t.donors }))
            .collect();
        let options = BuildOptions {
            base_url: Some(self.base_url.clone()),
            progress,
            live_reload: true,
            ..BuildOptions::default()
        };
        let started = std::time::Instant::now();
        match self.live.rebuild(changed, &options) {
            Ok(rebuilt) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                match rebuilt {
                    Rebuilt::Full(report) => {
                        tracing::info!(pages = report.pages, files = report.files, ms, "site built");
                    }
                    Rebuilt::Edits { rendered, written } => tracing::info!(rendered, written, ms, "site updated"),
                }
                let _ = self.reload.send(());
            }
            Err(error) => eprintln!("The site did not build; still serving the last good build.\n{error}"),
        }
    }

    /// Watches the sources on a thread of its own and rebuilds after a burst of changes settles.
    fn watch(mut self) -> anyhow::Result<notify::RecommendedWatcher> {
        let (events, changes) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(events).context("starting the file watcher")?;
        for target in self.paths.watch_targets() {
            let mode = if target.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            watcher.watch(&target.path, mode).with_context(|| format!("watching {}", target.path.display()))?;
        }
        std::thread::spawn(move || {
            while let Ok(event) = changes.recv() {
                let mut changed = BTreeSet::new();
                self.note_sources(event, &mut changed);
                if changed.is_empty() {
                    continue;
                }
                // Editors save in bursts (write, rename, chmod); wait for quiet, then build once.
                while let Ok(event) = changes.recv_timeout(BURST_QUIET) {
                    self.note_sources(event, &mut changed);
                }
                self.rebuild(&changed.into_iter().collect::<Vec<_>>());
            }
        });
        Ok(watcher)
    }

    /// Adds the source files an event is about to `changed`. An event that failed, and so
    /// names no file for sure, counts as a change to the config, which rebuilds everything.
    fn note_sources(&self, event: notify::Result<notify::Event>, changed: &mut BTreeSet<PathBuf>) {
        match event {
            Ok(event) if event.kind.is_access() => {}
            Ok(event) => changed.extend(event.paths.into_iter().filter(|p| self.paths.is_source(p))),
            Err(_) => {
                changed.insert(self.paths.config.clone());
            }
        }
    }
}

/// How long the file events of one save may be apart.
const BURST_QUIET: Duration = Duration::from_millis(150);

fn dev_routes(config: &mut web::ServiceConfig, output: &Path, reload: &broadcast::Sender<()>) {
    let reload = reload.clone();
    let not_found: PathBuf = output.join("404.html");
    let headers_file = output.join("_headers");
    config
        .route(
            "/__pledge/livereload.js",
            web::get().to(|| async { HttpResponse::Ok().content_type("text/javascript").body(LIVE_RELOAD_JS) }),
        )
        .route(
            "/__pledge/events",
            web::get().to(move || {
                let receiver = reload.subscribe();
                async move { reload_events(receiver) }
            }),
        )
        // The pages carry the headers the build wrote for hosts (`_headers`), so what works
        // here works under the production CSP too.
        .service(
            web::scope("")
                .wrap(actix_web::middleware::from_fn(
                    move |request: ServiceRequest, next: actix_web::middleware::Next<actix_web::body::BoxBody>| {
                        let headers_file = headers_file.clone();
                        async move {
                            let path = request.path().to_string();
                            let mut response = next.call(request).await?;
                            let rules = std::fs::read_to_string(&headers_file).unwrap_or_default();
                            // Cache rules are left out: the dev server must never be cached.
                            let headers = generator::postprocess::headers_for(&rules, &path);
                            for (name, value) in
                                headers.into_iter().filter(|(name, _)| !name.eq_ignore_ascii_case("cache-control"))
                            {
                                if let (Ok(name), Ok(value)) = (
                                    actix_web::http::header::HeaderName::try_from(name),
                                    actix_web::http::header::HeaderValue::try_from(value),
                                ) {
                                    response.headers_mut().insert(name, value);
                                }
                            }
                            Ok::<_, actix_web::Error>(response)
                        }
                    },
                ))
                .service(
                    Files::new("/", output).index_file("index.html").redirect_to_slash_directory().default_handler(
                        fn_service(move |request: ServiceRequest| {
                            let not_found = not_found.clone();
                            async move {
                                let (request, _) = request.into_parts();
                                let response = match NamedFile::open_async(&not_found).await {
                                    Ok(file) => {
                                        let mut response = file.into_response(&request);
                                        *response.status_mut() = actix_web::http::StatusCode::NOT_FOUND;
                                        response
                                    }
                                    Err(_) => HttpResponse::NotFound().body("Not found"),
                                };
                                Ok(ServiceResponse::new(request, response))
                            }
                        }),
                    ),
                ),
        );
}

/// Server-sent events: one `reload` message per successful rebuild.
fn reload_events(receiver: broadcast::Receiver<()>) -> HttpResponse {
    let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                Some((Ok::<_, actix_web::Error>(web::Bytes::from_static(b"data: reload\n\n")), receiver))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("cache-control", "no-cache")).streaming(events)
}
