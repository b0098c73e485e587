//! One tracing span per request, with its request id, method, route and status, except for the
//! hot reads: totals polls and health checks are most of the traffic, answered from memory,
//! and a span each would cost more than the answer (measured in BENCHMARKS.md). Their errors
//! are still logged where they happen.

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
        tracing_actix_web::root_span!(request, edge_request_id = %edge_request_id.chars().take(64).collect::<String>())
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
