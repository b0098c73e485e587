//! Script errors the pages report (`window.onerror`), so a broken release shows in the logs, in
//! metrics and in Sentry before visitors write in. Reports are small (the route's body limit),
//! rate-limited per visitor, and stripped of what could be personal: URLs lose their query and
//! fragment, and every field is cut short.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::ApiError;
use crate::prometheus::ClientErrorResult;
use crate::state::AppState;

/// The largest report accepted; anything longer is refused with 413 before it is read.
pub const BODY_LIMIT: usize = 8 * 1024;

const MESSAGE_CHARS: usize = 300;
const URL_CHARS: usize = 200;
const STACK_CHARS: usize = 1500;

/// What `totals.js` sends. Pages post it as `text/plain`, which needs no CORS preflight.
#[derive(Debug, Deserialize)]
struct ClientErrorReport {
    message: Option<String>,
    source: Option<String>,
    #[serde(default, deserialize_with = "whole_number")]
    line: Option<u32>,
    #[serde(default, deserialize_with = "whole_number")]
    column: Option<u32>,
    page: Option<String>,
    stack: Option<String>,
}

/// A position as JSON writes it: `12` or `12.0` are the same number (JSON has one number type,
/// and some serialisers write whole numbers with a fraction); `12.5` or a negative is refused.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<f64>::deserialize(deserializer)? else { return Ok(None) };
    if number.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&number) {
        return Err(serde::de::Error::custom(format!("{number} is not a line or column number")));
    }
    // Checked above: whole and within u32, so the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(number as u32))
}

pub async fn report_client_error(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.client_error_limiter.allow(state.visitor(&request, "client-error")) {
        state.prometheus.record_client_error(ClientErrorResult::RateLimited);
        return Err(ApiError::TooManyRequests("Too many error reports from this browser.".into()));
    }
    let report: ClientErrorReport = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Invalid(format!("The body is not an error report: {e}")))?;
    let message = clip(report.message.as_deref().unwrap_or_default(), MESSAGE_CHARS);
    let page = without_query(report.page.as_deref().unwrap_or_default());
    let source = without_query(report.source.as_deref().unwrap_or_default());
    let stack = clip(&strip_queries(report.stack.as_deref().unwrap_or_default()), STACK_CHARS);
    let (line, column) = (report.line.unwrap_or(0), report.column.unwrap_or(0));

    tracing::warn!(%page, %source, line, column, %message, "a page reported a script error");
    state.prometheus.record_client_error(ClientErrorResult::Logged);
    sentry::with_scope(
        |scope| {
            scope.set_tag("origin", "browser");
            scope.set_extra("page", page.clone().into());
            scope.set_extra("source", format!("{source}:{line}:{column}").into());
            scope.set_extra("stack", stack.clone().into());
        },
        || sentry::capture_message(&format!("Browser: {message}"), sentry::Level::Warning),
    );
    Ok(HttpResponse::NoContent().finish())
}

/// At most `chars` characters, cut on a character boundary.
fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// A URL without its query and fragment, which may carry what a visitor typed.
fn without_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    clip(&url[..end], URL_CHARS)
}

/// Removes query strings from the URLs in a stack trace, keeping the `:line:column` after them.
fn strip_queries(stack: &str) -> String {
    let mut out = String::with_capacity(stack.len());
    let mut chars = stack.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' && c != '#' {
            out.push(c);
            continue;
        }
        while let Some(&next) = chars.peek() {
            let ends_query = next.is_whitespace() || next == ')' || next == ':';
            if ends_query {
                break;
            }
            chars.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_whole_numbers_however_json_writes_them() {
        let line = |body: &str| serde_json::from_str::<ClientErrorReport>(body).map(|r| r.line);
        assert_eq!(line(r#"{"line": 12}"#).unwrap(), Some(12));
        assert_eq!(line(r#"{"line": 12.0}"#).unwrap(), Some(12));
        assert_eq!(line(r#"{"line": null}"#).unwrap(), None);
        assert_eq!(line("{}").unwrap(), None);
        for refused in [r#"{"line": 12.5}"#, r#"{"line": -1}"#, r#"{"line": 4294967296}"#, r#"{"line": "12"}"#] {
            assert!(line(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn urls_lose_what_visitors_could_have_typed() {
        assert_eq!(without_query("https://site.test/donate/?name=Ann#x"), "https://site.test/donate/");
        assert_eq!(
            strip_queries("at f (https://site.test/totals.js?v=1&email=a@b.c:10:5)\nat g (x.js#y:1:2)"),
            "at f (https://site.test/totals.js:10:5)\nat g (x.js:1:2)"
        );
        assert_eq!(clip("ééé", 2), "éé");
    }
}
