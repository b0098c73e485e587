//! What handlers share about request bodies: HTML forms and JSON alike, and checkboxes.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON clients get JSON back; everything else is treated as a browser posting a form.
pub fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Decodes a form or JSON body; `what` names it in the error (`donation`, `share link`).
pub fn parse<T: DeserializeOwned>(body: &[u8], is_json: bool, what: &str) -> Result<T, ApiError> {
    if is_json {
        serde_json::from_slice(body).map_err(|e| ApiError::Invalid(format!("The JSON body is not a {what}: {e}")))
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| ApiError::Invalid(format!("The form is incomplete: {e}")))
    }
}

/// A checkbox sends `on` (or its value) when ticked and nothing otherwise; JSON sends a boolean.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FlagField {
    Bool(bool),
    Text(String),
}

impl FlagField {
    pub fn is_set(&self) -> bool {
        match self {
            Self::Bool(set) => *set,
            Self::Text(text) => !matches!(text.trim().to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off"),
        }
    }
}
