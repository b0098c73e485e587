//! Liveness, readiness, the Prometheus metrics and the published OpenAPI document.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};

use crate::prometheus::{CONTENT_TYPE, Sources};
use crate::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Ready when the database answers; a load balancer stops sending traffic otherwise.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready\n"),
        Err(error) => {
            tracing::warn!(%error, "not ready: database unreachable");
            HttpResponse::ServiceUnavailable().content_type("text/plain").body("database unreachable\n")
        }
    }
}

/// For Prometheus on the API's own port; the public proxy does not pass `/metrics` on.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let sources = Sources {
        store: state.store.as_ref(),
        gateways: &state.gateways,
        totals: &state.totals,
        totals_refresh: state.totals_refresh,
    };
    let text = state.prometheus.render(sources).await;
    HttpResponse::Ok().content_type(CONTENT_TYPE).insert_header(CacheControl(vec![CacheDirective::NoStore])).body(text)
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("../../openapi.json"))
}
