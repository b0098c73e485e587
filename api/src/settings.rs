//! Runtime settings of the API: defaults, then an optional file, then `PLEDGE_*` environment
//! variables (`PLEDGE_DATABASE_URL`, `PLEDGE_SANDBOX_SECRET`, …).

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port (tests do this).
    pub bind: String,
    /// `sqlite:path/to/file.db` or `postgres://…`.
    pub database_url: String,
    /// The site's `config.toml`, where campaigns are defined.
    pub site_config: PathBuf,
    /// Where the API is reached from outside, for gateway return and notification URLs.
    /// Defaults to `http://{bind}` once bound.
    #[serde(default)]
    pub public_url: Option<Url>,
    /// Where the static pages are served, for the thank-you and failed redirects.
    /// Defaults to `public_url`.
    #[serde(default)]
    pub site_url: Option<Url>,
    /// Origins allowed to call the API from a browser, comma-separated
    /// (`https://example.org,https://www.example.org`). The site's and the API's own origins
    /// are always allowed.
    #[serde(default)]
    pub cors_origins: Option<String>,
    /// Bearer token for the admin routes (offline gifts, exports); they answer 404 without one.
    #[serde(default)]
    pub admin_token: Option<SecretString>,
    /// Enables the sandbox gateway with this shared secret.
    #[serde(default)]
    pub sandbox_secret: Option<SecretString>,
    /// The sandbox hosted page; defaults to `{public_url}/sandbox/pay`.
    #[serde(default)]
    pub sandbox_pay_url: Option<Url>,
    /// Serve the sandbox gateway's hosted page from this process (development only).
    #[serde(default)]
    pub serve_sandbox_page: bool,
    /// Stripe Checkout: the secret API key (`sk_…`) enables it; the webhook signing secret
    /// (`whsec_…`) is then required.
    #[serde(default)]
    pub stripe_secret_key: Option<SecretString>,
    #[serde(default)]
    pub stripe_webhook_secret: Option<SecretString>,
    /// Stripe's API; tests point it at a local server.
    pub stripe_api_base: Url,
    /// Amazon Payment Services (redirection): the merchant identifier enables it; the access
    /// code and both SHA phrases are then required.
    #[serde(default)]
    pub aps_merchant_identifier: Option<String>,
    #[serde(default)]
    pub aps_access_code: Option<SecretString>,
    #[serde(default)]
    pub aps_request_phrase: Option<SecretString>,
    #[serde(default)]
    pub aps_response_phrase: Option<SecretString>,
    /// `sha256` or `sha512`, as set in the APS back office.
    pub aps_sha_type: String,
    /// The hosted payment page the donor's browser is posted to.
    pub aps_page_url: Url,
    /// The server-to-server API (`CHECK_STATUS`).
    pub aps_api_url: Url,
    /// N-Genius (Network International): the API key enables it; the outlet reference is then
    /// required.
    #[serde(default)]
    pub ngenius_api_key: Option<SecretString>,
    #[serde(default)]
    pub ngenius_outlet_ref: Option<String>,
    pub ngenius_api_base: Url,
    /// How new donations are spread over gateways, e.g. `AED=ngenius:80,aps:20;*=stripe`
    /// (see `gateway::routing`). Without it the first configured gateway takes everything.
    #[serde(default)]
    pub gateway_routes: Option<String>,
    /// Failover: avoid a gateway when more than this share of recent checkout starts failed…
    pub failover_max_error_rate: f64,
    /// …or more than this share of its recent payments were declined…
    pub failover_max_decline_rate: f64,
    /// …judged over this many seconds, once there are at least `failover_min_samples`.
    pub failover_window_seconds: u64,
    pub failover_min_samples: usize,
    /// The reconciler asks gateways about donations pending longer than this…
    pub reconcile_after_seconds: u64,
    /// …every this many seconds (0 turns it off)…
    pub reconcile_interval_seconds: u64,
    /// …and expires those still unpaid after this long (the donor walked away).
    pub abandon_after_seconds: u64,
    pub totals_refresh_ms: u64,
    /// Keep idle client connections this long; a load balancer in front must time out sooner.
    pub keep_alive_seconds: u64,
    pub client_request_timeout_ms: u64,
    #[serde(default)]
    pub workers: Option<usize>,
    /// How long a followed share link is credited with the visitor's donation (last touch wins).
    pub referral_window_days: u64,
    /// How often batched referral clicks are written.
    pub click_flush_ms: u64,
    /// Repeated clicks by one visitor on one link within this time count once.
    pub click_dedupe_minutes: u64,
    /// Share links one visitor may create per hour.
    pub referral_creations_per_hour: u32,
    /// Script error reports one visitor's pages may send per minute (`/api/v1/client-errors`).
    pub client_errors_per_minute: u32,
    /// Donations one address may start per `donation_limit_window_seconds` (form and JSON).
    /// A donor posts a handful of times; a load test from one address raises it.
    pub donation_limit: u32,
    pub donation_limit_window_seconds: u64,
    /// Share-link clicks counted per address per minute; past it visitors are still
    /// redirected, their clicks just not counted.
    pub click_limit_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` names the client: comma-separated addresses or CIDR
    /// blocks (`127.0.0.1,::1` for nginx on the same host; empty when clients connect
    /// directly). A header from anyone else is ignored, so it cannot dodge the rate limits.
    pub trusted_proxies: String,
    /// Connections per worker at most (actix's `max_connections`).
    pub max_connections_per_worker: usize,
    /// How long a stopping server lets requests in flight finish.
    pub shutdown_timeout_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(String);

impl Settings {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut builder = Self::defaults();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder
            // No `try_parsing`: it would turn a secret like `0123` into the number 123.
            .add_source(config::Environment::with_prefix("PLEDGE").prefix_separator("_"))
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| SettingsError(e.to_string()))
    }

    /// Settings for a local run: defaults plus what the caller names, ignoring the environment.
    pub fn local(bind: &str, database_url: &str, site_config: &Path) -> Result<Self, SettingsError> {
        Self::defaults()
            .set_override("bind", bind)
            .and_then(|b| b.set_override("database_url", database_url))
            .and_then(|b| b.set_override("site_config", site_config.to_string_lossy().into_owned()))
            .and_then(|b| b.build())
            .and_then(config::Config::try_deserialize)
            .map_err(|e| SettingsError(e.to_string()))
    }

    fn defaults() -> config::ConfigBuilder<config::builder::DefaultState> {
        config::Config::builder()
            .set_default("bind", "127.0.0.1:8080")
            .and_then(|b| b.set_default("totals_refresh_ms", 1000))
            .and_then(|b| b.set_default("keep_alive_seconds", 75))
            .and_then(|b| b.set_default("client_request_timeout_ms", 5000))
            .and_then(|b| b.set_default("max_connections_per_worker", 25_000))
            .and_then(|b| b.set_default("serve_sandbox_page", false))
            .and_then(|b| b.set_default("shutdown_timeout_seconds", 30))
            .and_then(|b| b.set_default("referral_window_days", 30))
            .and_then(|b| b.set_default("click_flush_ms", 1000))
            .and_then(|b| b.set_default("click_dedupe_minutes", 30))
            .and_then(|b| b.set_default("referral_creations_per_hour", 10))
            .and_then(|b| b.set_default("client_errors_per_minute", 10))
            .and_then(|b| b.set_default("donation_limit", 20))
            .and_then(|b| b.set_default("donation_limit_window_seconds", 600))
            .and_then(|b| b.set_default("click_limit_per_minute", 60))
            .and_then(|b| b.set_default("trusted_proxies", "127.0.0.1,::1"))
            .and_then(|b| b.set_default("stripe_api_base", "https://api.stripe.com/"))
            .and_then(|b| b.set_default("aps_sha_type", "sha256"))
            .and_then(|b| b.set_default("aps_page_url", "https://checkout.payfort.com/FortAPI/paymentPage"))
            .and_then(|b| b.set_default("aps_api_url", "https://paymentservices.payfort.com/FortAPI/paymentApi"))
            .and_then(|b| b.set_default("ngenius_api_base", "https://api-gateway.ngenius-payments.com/"))
            .and_then(|b| b.set_default("failover_max_error_rate", 0.25))
            .and_then(|b| b.set_default("failover_max_decline_rate", 0.6))
            .and_then(|b| b.set_default("failover_window_seconds", 300))
            .and_then(|b| b.set_default("failover_min_samples", 20))
            .and_then(|b| b.set_default("reconcile_after_seconds", 300))
            .and_then(|b| b.set_default("reconcile_interval_seconds", 30))
            .and_then(|b| b.set_default("abandon_after_seconds", 86_400))
            .expect("static defaults are valid")
    }
}
