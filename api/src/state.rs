//! What every handler shares: campaigns, storage, the totals cache, gateways and public URLs.

use std::sync::Arc;

use campaigns::Campaigns;
use url::Url;

use crate::db::Store;
use crate::gateway::Gateways;
use crate::totals::TotalsCache;

pub struct AppState {
    pub campaigns: Campaigns,
    pub store: Arc<dyn Store>,
    pub totals: TotalsCache,
    pub gateways: Gateways,
    /// The API as seen from outside (gateways call back here).
    pub public_url: Url,
    /// Where the static pages live (thank-you and failed pages).
    pub site_url: Url,
}

impl AppState {
    /// An absolute URL on the API: `api_url("/api/v1/…")`.
    pub fn api_url(&self, path: &str) -> Url {
        self.public_url.join(path).unwrap_or_else(|_| self.public_url.clone())
    }

    /// An absolute URL on the static site; `path` is always one of ours, never user input.
    pub fn site_page(&self, path: &str) -> Url {
        self.site_url.join(path).unwrap_or_else(|_| self.site_url.clone())
    }
}
