//! One tracing span per request, with its request id, method, route and status, except for the
//! hot reads: totals polls and health checks are most of the traffic, answered from memory,
//! and a span each would cost more than the answer (measured in BENCHMARKS.md). Their errors
//! are still logged where they happen.

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

pub struct QuietHotReads;

impl RootSpanBuilder for QuietHotReads {
    fn on_request_start(request: &ServiceRequest) -> Span {
        if is_hot_read(request) {
            return Span::none();
        }
        // The proxy's id for the request (nginx's `$request_id`), so its access log line and
        // ours can be matched; ours stays `request_id`, which a client cannot choose.
        let edge_request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        // Not `tracing_actix_web::root_span!`: it records the client's IP address (believing
        // any X-Forwarded-For) and the query string, where a gateway's return may carry the
        // donor's email. The route pattern and the path say enough.
        let request_id = request.extensions().get::<tracing_actix_web::RequestId>().map(ToString::to_string);
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %request.match_pattern().unwrap_or_else(|| "default".into()),
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id.unwrap_or_default(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            edge_request_id = %edge_request_id.chars().take(64).collect::<String>(),
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

fn is_hot_read(request: &ServiceRequest) -> bool {
    request.method() == actix_web::http::Method::GET
        && matches!(
            request.match_pattern().as_deref(),
            Some("/api/v1/campaigns/{slug}/totals" | "/healthz" | "/readyz")
        )
}
