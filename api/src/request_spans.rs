//! One tracing span per request, with its request id, method, route and status, except for the
//! hot reads: totals polls and health checks are most of the traffic, answered from memory,
//! and a span each (with a fresh random request id) would cost more than the answer (measured
//! in BENCHMARKS.md). Their errors are still logged where they happen. The span is made by
//! the observing middleware (`metrics::measure`), which resolves the route once for both.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The span of a request whose route pattern is `route` (`None`: no route matched).
pub fn start(request: &ServiceRequest, route: Option<&str>) -> Span {
    if is_hot_read(request.method(), route) {
        return Span::none();
    }
    // The proxy's id for the request (nginx's `$request_id`), so its access log line and
    // ours can be matched; ours stays `request_id`, which a client cannot choose.
    let edge_request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    // Not `tracing_actix_web::root_span!`: it records the client's IP address (believing
    // any X-Forwarded-For) and the query string, where a gateway's return may carry the
    // donor's email. The route pattern and the path say enough.
    tracing::info_span!(
        "HTTP request",
        http.method = %request.method(),
        http.route = route.unwrap_or("default"),
        http.target = %request.path(),
        http.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        request_id = %uuid::Uuid::new_v4(),
        exception.message = tracing::field::Empty,
        exception.details = tracing::field::Empty,
        edge_request_id = %edge_request_id.chars().take(64).collect::<String>(),
    )
}

/// Records the status (and an error's details) on the span, and logs an answer that carries
/// an error inside it (a warning for 4xx, an error for 5xx), as tracing-actix-web's logger does.
pub fn finish<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
    if span.is_none() {
        return;
    }
    let error = match outcome {
        Ok(response) => response.response().error().map(|e| (e.as_response_error(), response.status())),
        Err(error) => Some((error.as_response_error(), error.as_response_error().status_code())),
    };
    span.clone().in_scope(|| {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
        match error {
            Some((error, status)) if status.is_client_error() => {
                tracing::warn!("error answering the request: {error:?}");
            }
            Some((error, _)) => tracing::error!("error answering the request: {error:?}"),
            None => {}
        }
    });
}

fn is_hot_read(method: &Method, route: Option<&str>) -> bool {
    method == Method::GET && matches!(route, Some("/api/v1/campaigns/{slug}/totals" | "/healthz" | "/readyz"))
}
