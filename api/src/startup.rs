//! The route table and `Application::build`, which binds a listener (port 0 allowed) and reports
//! the port it got. `main` and the tests start the server through the same function.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use campaigns::{CampaignError, Campaigns};
use url::Url;

use crate::clicks::ClickCounter;
use crate::db::{self, DbError, Store};
use crate::gateway::sandbox::SandboxGateway;
use crate::gateway::sandbox::hosted_page::{self, HostedPage};
use crate::gateway::{self, FailoverPolicy, Gateways, Routes, RoutesError};
use crate::metrics::{self, RequestMetrics};
use crate::prometheus::Prometheus;
use crate::rate_limit::RateLimiter;
use crate::reconcile::Reconciler;
use crate::routes;
use crate::settings::Settings;
use crate::state::AppState;
use crate::totals::TotalsCache;
use crate::visitors::{TrustedProxies, VisitorKeys};

pub struct Application {
    port: u16,
    public_url: Url,
    server: Server,
    totals: TotalsCache,
    store: Arc<dyn Store>,
    clicks: Arc<ClickCounter>,
    /// Told when the server has stopped, so background tasks finish what they are doing.
    stop: tokio::sync::watch::Sender<bool>,
    /// Tasks that write (click flusher, reconciler): awaited at shutdown.
    writers: Vec<tokio::task::JoinHandle<()>>,
    /// The totals refresher only reads: aborted at shutdown.
    refresher: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("campaigns: {0}")]
    Campaigns(#[from] CampaignError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("no payment gateway is configured: set PLEDGE_SANDBOX_SECRET (development) or a real gateway's keys")]
    NoGateway,
    #[error("payment gateway settings: {0}")]
    Gateway(String),
    #[error(transparent)]
    Routes(#[from] RoutesError),
    #[error("PLEDGE_TRUSTED_PROXIES: {0}")]
    TrustedProxies(String),
    #[error("invalid URL setting: {0}")]
    Url(#[from] url::ParseError),
}

/// The site may be served from another origin than the API (a CDN in front of the pages): its
/// scripts poll the totals and JSON clients post donations across origins.
fn allowed_origins(public_url: &Url, site_url: &Url, configured: Option<&str>) -> Vec<String> {
    let mut origins: Vec<String> = [public_url, site_url].iter().map(|u| u.origin().ascii_serialization()).collect();
    origins.extend(configured.unwrap_or_default().split(',').map(|o| o.trim().trim_end_matches('/').to_string()));
    origins.retain(|o| !o.is_empty() && o != "null");
    origins.sort();
    origins.dedup();
    origins
}

fn cors(origins: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::ETAG])
        .max_age(86_400);
    origins.iter().fold(cors, |cors, origin| cors.allowed_origin(origin))
}

/// A base URL whose path ends with `/`, so relative paths join below it, not beside it.
fn directory(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, |_| {}).await
    }

    /// Like `build`, with `extra` routes mounted after the API's (the dev server adds the
    /// static site and live reload this way, so the API itself knows nothing of them).
    pub async fn build_with<F>(settings: Settings, extra: F) -> Result<Self, StartupError>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let trusted_proxies = TrustedProxies::parse(&settings.trusted_proxies).map_err(StartupError::TrustedProxies)?;
        let campaigns = Campaigns::load(&settings.site_config)?;
        let store = db::connect(&settings.database_url).await?;
        store.sync_campaigns(&campaigns).await?;
        let totals = TotalsCache::load(store.as_ref(), Duration::from_millis(settings.totals_refresh_ms)).await?;

        let listener = TcpListener::bind(&settings.bind)
            .map_err(|source| StartupError::Bind { address: settings.bind.clone(), source })?;
        let address =
            listener.local_addr().map_err(|source| StartupError::Bind { address: settings.bind.clone(), source })?;
        let public_url = match &settings.public_url {
            Some(url) => directory(url.clone()),
            None => Url::parse(&format!("http://{address}/"))?,
        };
        let site_url = settings.site_url.clone().map(directory).unwrap_or_else(|| public_url.clone());
        let origins = allowed_origins(&public_url, &site_url, settings.cors_origins.as_deref());

        let mut gateways = gateway::configured(&settings).map_err(StartupError::Gateway)?;
        let mut hosted_page = None;
        if let Some(secret) = &settings.sandbox_secret {
            let pay_url = match &settings.sandbox_pay_url {
                Some(url) => url.clone(),
                None => public_url.join("sandbox/pay")?,
            };
            gateways.push(Arc::new(SandboxGateway::new(secret.clone(), pay_url, reqwest::Client::new())));
            if settings.serve_sandbox_page {
                hosted_page = Some(HostedPage::new(secret.clone(), reqwest::Client::new()));
            }
        }
        if gateways.is_empty() {
            return Err(StartupError::NoGateway);
        }
        let names: Vec<&str> = gateways.iter().map(|g| g.name()).collect();
        let routes = Routes::parse(settings.gateway_routes.as_deref().unwrap_or_default(), &names)?;
        let policy = FailoverPolicy {
            window: Duration::from_secs(settings.failover_window_seconds),
            min_samples: settings.failover_min_samples,
            max_error_rate: settings.failover_max_error_rate,
            max_decline_rate: settings.failover_max_decline_rate,
        };
        let gateways = Gateways::new(gateways, routes, policy);

        let refresher = totals.spawn_refresher(store.clone());
        let clicks = Arc::new(ClickCounter::new(Duration::from_secs(settings.click_dedupe_minutes * 60)));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let flusher =
            clicks.spawn_flusher(store.clone(), Duration::from_millis(settings.click_flush_ms), stopped.clone());
        let reconciler = (settings.reconcile_interval_seconds > 0).then(|| {
            Reconciler {
                store: store.clone(),
                gateways: gateways.clone(),
                totals: totals.clone(),
                every: Duration::from_secs(settings.reconcile_interval_seconds),
                min_age: Duration::from_secs(settings.reconcile_after_seconds),
                abandon_after: Duration::from_secs(settings.abandon_after_seconds),
            }
            .spawn(stopped.clone())
        });
        let request_metrics = Arc::new(RequestMetrics::default());
        let prometheus = Arc::new(Prometheus::default());
        let state = web::Data::new(AppState {
            campaigns,
            clicks: clicks.clone(),
            visitors: VisitorKeys::new(),
            trusted_proxies,
            donation_limiter: RateLimiter::new(
                settings.donation_limit,
                Duration::from_secs(settings.donation_limit_window_seconds),
            ),
            click_limiter: RateLimiter::new(settings.click_limit_per_minute, Duration::from_secs(60)),
            referral_limiter: RateLimiter::new(settings.referral_creations_per_hour, Duration::from_secs(3600)),
            referral_window: Duration::from_secs(settings.referral_window_days * 86_400),
            admin_token: settings.admin_token.clone(),
            store: store.clone(),
            totals: totals.clone(),
            totals_refresh: Duration::from_millis(settings.totals_refresh_ms),
            gateways: gateways.clone(),
            metrics: request_metrics.clone(),
            prometheus: prometheus.clone(),
            client_error_limiter: RateLimiter::new(settings.client_errors_per_minute, Duration::from_secs(60)),
            public_url: public_url.clone(),
            site_url,
        });
        // Sentry is set up by whoever starts the process (`pledge api`); without it the
        // middleware, which makes a hub per request, is left out of the hot path.
        let sentry_enabled = sentry::Hub::current().client().is_some_and(|client| client.is_enabled());
        let mut server = HttpServer::new(move || {
            let hosted_page = hosted_page.clone();
            let request_metrics = request_metrics.clone();
            let prometheus = prometheus.clone();
            App::new()
                // Static values on every answer (the hot totals path included): no browser
                // guesses a type from the body. HTML pages add their own policies.
                .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
                .wrap(cors(&origins))
                .wrap(Condition::new(
                    sentry_enabled,
                    sentry_actix::Sentry::builder().capture_server_errors(false).finish(),
                ))
                .wrap(from_fn(move |request, next| {
                    metrics::measure(request_metrics.clone(), prometheus.clone(), request, next)
                }))
                .app_data(state.clone())
                .configure(routes::configure)
                .configure(|config| {
                    if let Some(page) = hosted_page {
                        hosted_page::routes(config, page);
                    }
                })
                .configure(extra.clone())
        })
        .keep_alive(Duration::from_secs(settings.keep_alive_seconds))
        .client_request_timeout(Duration::from_millis(settings.client_request_timeout_ms))
        .max_connections(settings.max_connections_per_worker)
        .shutdown_timeout(settings.shutdown_timeout_seconds);
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { address: address.to_string(), source })?
            .run();
        Ok(Self {
            port: address.port(),
            public_url,
            server,
            totals,
            store,
            clicks,
            stop,
            writers: [Some(flusher), reconciler].into_iter().flatten().collect(),
            refresher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The API's base URL as gateways see it (`http://127.0.0.1:PORT/` unless configured).
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// A handle on the in-memory totals (the dev server renders pages with them).
    pub fn totals(&self) -> TotalsCache {
        self.totals.clone()
    }

    /// Stops the server from elsewhere (tests); `graceful` lets requests in flight finish.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop (SIGINT, SIGTERM), then lets requests in flight
    /// finish (up to the shutdown timeout), lets the reconciler finish its round, and writes the
    /// referral clicks still counted only in memory.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.refresher.abort();
        let _ = self.stop.send(true);
        for task in self.writers {
            if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
                tracing::warn!("a background task did not finish within 10 s of the shutdown");
            }
        }
        match self.clicks.flush(self.store.as_ref()).await {
            Ok(codes) => tracing::info!(codes, "referral clicks written at shutdown"),
            Err(error) => tracing::error!(%error, "referral clicks could not be written at shutdown"),
        }
        result
    }
}
