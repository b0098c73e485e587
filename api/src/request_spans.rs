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
        if is_hot_read(request) { Span::none() } else { tracing_actix_web::root_span!(request) }
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
