//! What every handler shares: campaigns, storage, the totals cache, gateways and public URLs.

use std::sync::Arc;

use campaigns::{Campaigns, ResultPage};
use url::Url;

use crate::clicks::ClickCounter;
use crate::db::{Donation, Store};
use crate::domain::{AmountMinor, Currency, DonationId, DonationStatus};
use crate::error::ApiError;
use crate::gateway::{CheckoutRequest, Gateways, PaymentGateway};
use crate::rate_limit::RateLimiter;
use crate::totals::TotalsCache;
use crate::visitors::{TrustedProxies, VisitorKeys};

pub struct AppState {
    pub campaigns: Campaigns,
    pub clicks: Arc<ClickCounter>,
    pub visitors: VisitorKeys,
    /// Proxies whose `X-Forwarded-For` names the visitor (nginx in front).
    pub trusted_proxies: TrustedProxies,
    /// Donations one address may start per window (form and JSON alike).
    pub donation_limiter: RateLimiter,
    /// Share-link clicks one address may have counted per minute; past it the visitor is
    /// still redirected, the click is just not counted.
    pub click_limiter: RateLimiter,
    pub referral_limiter: RateLimiter,
    pub referral_window: std::time::Duration,
    pub admin_token: Option<secrecy::SecretString>,
    pub store: Arc<dyn Store>,
    pub totals: TotalsCache,
    /// How often the totals snapshot is refreshed (the dashboard judges its age by it).
    pub totals_refresh: std::time::Duration,
    pub gateways: Gateways,
    pub metrics: Arc<crate::metrics::RequestMetrics>,
    pub prometheus: Arc<crate::prometheus::Prometheus>,
    /// Client-side error reports one visitor may send per minute.
    pub client_error_limiter: RateLimiter,
    /// The API as seen from outside (gateways call back here).
    pub public_url: Url,
    /// Where the static pages live (thank-you and failed pages).
    pub site_url: Url,
}

impl AppState {
    /// An absolute URL on the API: `api_url("/api/v1/…")`. Joined below the base URL's own
    /// path, so an API mounted under a prefix keeps it.
    pub fn api_url(&self, path: &str) -> Result<Url, ApiError> {
        below(&self.public_url, path)
    }

    /// Where a donor goes once the gateway is done: thank-you once the money is ours (or, with
    /// `processing`, once the gateway has it in hand), the failed page (with a way back)
    /// otherwise; in the language they donated in.
    pub fn result_page(&self, donation: &Donation, processing: bool) -> Result<Url, ApiError> {
        let page = match donation.status {
            status if status.was_paid() => ResultPage::ThankYou,
            DonationStatus::Pending if processing => ResultPage::ThankYou,
            _ => ResultPage::Failed,
        };
        below(&self.site_url, &self.campaigns.result_path(donation.campaign.as_str(), donation.lang.as_str(), page))
    }

    /// What `gateway` needs to start (or rebuild) the payment of a donation.
    pub fn checkout_request(
        &self,
        id: &DonationId,
        amount: AmountMinor,
        currency: Currency,
        lang: &str,
        gateway: &dyn PaymentGateway,
    ) -> Result<CheckoutRequest, ApiError> {
        let name = gateway.name();
        Ok(CheckoutRequest {
            donation_id: id.clone(),
            amount,
            currency,
            return_url: self.api_url(&format!("/api/v1/payments/{name}/return"))?,
            notify_url: self.api_url(&format!("/api/v1/payments/{name}/webhook"))?,
            forward_url: self.api_url(&format!("/api/v1/payments/{name}/forward/{}", id.as_str()))?,
            lang: lang.to_string(),
        })
    }
}

impl AppState {
    /// A visitor's anonymous key for `purpose` (the same browser gets different keys for
    /// different purposes, so no two tables can be joined on it).
    pub fn visitor(&self, request: &actix_web::HttpRequest, purpose: &str) -> crate::visitors::VisitorKey {
        let address = self.client_address(request);
        let agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default();
        self.visitors.key(&[purpose, &address, agent])
    }

    /// The key a rate limit counts by: the address alone, since a script can send any user
    /// agent it likes.
    pub fn address_key(&self, request: &actix_web::HttpRequest, purpose: &str) -> crate::visitors::VisitorKey {
        self.visitors.key(&[purpose, &self.client_address(request)])
    }

    /// Not actix's `realip_remote_addr`, which believes `X-Forwarded-For` from anyone.
    fn client_address(&self, request: &actix_web::HttpRequest) -> String {
        let forwarded: Vec<&str> =
            request.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect();
        let peer = request.peer_addr().map(|a| a.ip());
        self.trusted_proxies.client_address(peer, &forwarded).map(|a| a.to_string()).unwrap_or_default()
    }
}

/// `path` (always one of ours, never user input) below `base`, whose path ends with `/`.
fn below(base: &Url, path: &str) -> Result<Url, ApiError> {
    base.join(path.trim_start_matches('/')).map_err(|e| ApiError::Unexpected(e.into()))
}
