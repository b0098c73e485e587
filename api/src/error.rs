//! The one error type of the API and how it becomes a response: RFC 9457 problem details for
//! JSON clients, or a short readable page for a browser that posted a form.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;
use crate::domain::ValidationError;
use crate::gateway::GatewayError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A per-address limit: `retry_after` is when this address's window ends.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: std::time::Duration },
    #[error("this needs a valid admin token")]
    Unauthorized,
    #[error("the request is not signed by the gateway")]
    BadSignature(#[source] GatewayError),
    #[error("the service is briefly unavailable; please try again in a moment")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("something went wrong on our side")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::Invalid(error.0)
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        if error.is_unavailable() { Self::Unavailable(error.into()) } else { Self::Unexpected(error.into()) }
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::BadSignature | GatewayError::Stale => Self::BadSignature(error),
            GatewayError::Malformed(message) => Self::Invalid(message),
            // A refusal of our own request is our misconfiguration, but to the caller the
            // payment service is unavailable all the same.
            GatewayError::Unavailable(_) | GatewayError::Rejected(_) => Self::Unavailable(error.into()),
        }
    }
}

impl ApiError {
    fn title(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "Invalid request",
            Self::NotFound(_) => "Not found",
            Self::Conflict(_) => "Conflict",
            Self::TooManyRequests(_) | Self::RateLimited { .. } => "Too many requests",
            Self::Unauthorized => "Unauthorized",
            Self::BadSignature(_) => "Bad signature",
            Self::Unavailable(_) => "Service unavailable",
            Self::Unexpected(_) => "Internal error",
        }
    }

    /// Logs what a client must not see: the cause chain of server-side failures.
    fn log(&self) {
        match self {
            Self::Unexpected(cause) | Self::Unavailable(cause) => {
                tracing::error!(error = %crate::error::chain(cause.as_ref()), status = %self.status_code(), "request failed");
            }
            Self::BadSignature(cause) => tracing::warn!(error = %cause, "refused an unsigned or stale gateway message"),
            _ => {}
        }
    }

    /// Seconds a client should wait before trying again, where waiting helps.
    fn retry_after(&self) -> Option<String> {
        match self {
            Self::Unavailable(_) => Some("2".into()),
            Self::TooManyRequests(_) => Some("3600".into()),
            Self::RateLimited { retry_after, .. } => {
                Some(crate::rate_limit::RateLimiter::retry_after_seconds(*retry_after).to_string())
            }
            _ => None,
        }
    }

    /// The same error as a page a person can read, for plain HTML form posts and browser returns.
    pub fn for_browser(self) -> BrowserError {
        BrowserError(self)
    }
}

#[derive(Serialize)]
struct ProblemDetails {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let status = self.status_code();
        let body = ProblemDetails {
            r#type: "about:blank",
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if matches!(self, Self::Unauthorized) {
            // Browsers answer the Basic challenge with a login prompt (the dashboard); scripts
            // send the token as a bearer token. One challenge per header line: Chromium drops a
            // Basic challenge that shares its line with another scheme, and never prompts.
            response
                .append_header((header::WWW_AUTHENTICATE, r#"Basic realm="Pledge admin", charset="UTF-8""#))
                .append_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(body)
    }
}

/// An `ApiError` rendered as HTML.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BrowserError(#[from] pub ApiError);

impl ResponseError for BrowserError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let message = escape_html(&self.0.to_string());
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title>\
             <style>{style}</style>\
             </head><body><main><h1>{title}</h1><p role=\"alert\">{message}</p>\
             <p>Use your browser's Back button to return to the form and try again.</p>\
             </main></body></html>",
            style = crate::page_headers::PAGE_STYLE,
            title = if self.0.status_code().is_client_error() {
                "We could not take that gift"
            } else {
                "Sorry, something went wrong"
            },
        );
        let mut response = HttpResponse::build(self.status_code());
        // No script runs here, so the back link is words, not `history.back()`.
        crate::page_headers::secure_page(&mut response);
        if let Some(seconds) = self.0.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.content_type(ContentType::html()).body(html)
    }
}

pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An error and all its causes on one line, for logs.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
