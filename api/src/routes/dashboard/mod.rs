//! The operators' dashboard: the campaigns now, gifts over time, payments health, share links
//! and the system, as one page (`/admin/`), as JSON and as CSV. Behind the admin token (HTTP
//! Basic for browsers, any user name); never part of the static site. Every route checks the
//! credentials before it reads anything, so a stranger learns nothing, not even from an error.

mod charts;
mod csv;
mod data;
mod page;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::admin::authorize;
use crate::db::TimeBucket;
use crate::error::ApiError;
use crate::state::AppState;

/// The page loads nothing but its own stylesheet; no script, no inline style, no framing.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Debug, Deserialize)]
struct Query {
    #[serde(default)]
    bucket: Option<String>,
}

/// The chart's bucket from the query string (per minute unless asked). Read only once the
/// caller is authorised.
fn bucket(request: &HttpRequest) -> Result<TimeBucket, ApiError> {
    let invalid = || ApiError::Invalid("bucket is one of minute, hour and day".into());
    let query = web::Query::<Query>::from_query(request.query_string()).map_err(|_| invalid())?;
    match query.bucket.as_deref() {
        None | Some("") => Ok(TimeBucket::Minute),
        Some(text) => TimeBucket::parse(text).ok_or_else(invalid),
    }
}

/// `GET /admin`: on to `/admin/`, whose relative links need the slash.
pub async fn redirect(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    Ok(HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "admin/")).finish())
}

/// `GET /admin/`: the page. A browser without credentials gets the login prompt.
#[tracing::instrument(name = "dashboard_page", skip_all)]
pub async fn page(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let dashboard = data::gather(&state, bucket(&request)?).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(page::render(&dashboard)))
}

/// `GET /admin/dashboard.css`.
pub async fn stylesheet(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    Ok(HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(include_str!("dashboard.css")))
}

/// `GET /api/v1/admin/dashboard.json`: everything on the page.
#[tracing::instrument(name = "dashboard_json", skip_all)]
pub async fn json(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let dashboard = data::gather(&state, bucket(&request)?).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(dashboard))
}

/// `GET /api/v1/admin/dashboard/{section}.csv`, for each of `csv::SECTIONS`.
#[tracing::instrument(name = "dashboard_csv", skip_all)]
pub async fn csv(
    request: HttpRequest,
    section: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, &state)?;
    let section = section.into_inner();
    if !csv::SECTIONS.contains(&section.as_str()) {
        return Err(ApiError::NotFound(format!("The sections are {}.", csv::SECTIONS.join(", "))));
    }
    let dashboard = data::gather(&state, bucket(&request)?).await?;
    if csv::needs_database(&section) && !dashboard.system.database_reachable {
        return Err(ApiError::Unavailable("the database is not answering".into()));
    }
    let body = csv::section(&dashboard, &section)
        .ok_or_else(|| ApiError::Unexpected("a listed section has no CSV".into()))?
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{section}.csv\"")))
        .body(body))
}
