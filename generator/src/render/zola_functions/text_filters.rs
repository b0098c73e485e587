//! The text filters Zola adds: `base64_encode`, `base64_decode` and `regex_replace`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;
use tera::{Filter, Result as TeraResult, Value};

use super::required;

fn text_of<'a>(value: &'a Value, filter: &str) -> TeraResult<&'a str> {
    value.as_str().ok_or_else(|| format!("{filter}: expects a string, not {value}").into())
}

/// `base64_encode`: a string's UTF-8 bytes in standard, padded base64.
pub(crate) struct Base64Encode;

impl Filter for Base64Encode {
    fn filter(&self, value: &Value, _args: &HashMap<String, Value>) -> TeraResult<Value> {
        Ok(Value::String(STANDARD.encode(text_of(value, "base64_encode")?)))
    }
}

/// `base64_decode`: standard, padded base64 back to the string it encodes (which must be UTF-8).
pub(crate) struct Base64Decode;

impl Filter for Base64Decode {
    fn filter(&self, value: &Value, _args: &HashMap<String, Value>) -> TeraResult<Value> {
        let bytes = STANDARD
            .decode(text_of(value, "base64_decode")?.trim())
            .map_err(|e| format!("base64_decode: not base64: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|_| "base64_decode: the decoded bytes are not UTF-8 text")?;
        Ok(Value::String(text))
    }
}

/// `regex_replace(pattern, rep)`: every match of `pattern` (Rust `regex` syntax) replaced by
/// `rep`, where `$1`, `$name` and `${name}` stand for the match's groups.
///
/// Templates run it once per page with the same few patterns, so each pattern is compiled once.
#[derive(Default)]
pub(crate) struct RegexReplace {
    compiled: Mutex<HashMap<String, Regex>>,
}

impl RegexReplace {
    fn regex(&self, pattern: &str) -> TeraResult<Regex> {
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(regex) = compiled.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = Regex::new(pattern).map_err(|e| format!("regex_replace: `pattern` {e}"))?;
        compiled.insert(pattern.to_string(), regex.clone());
        Ok(regex)
    }
}

impl Filter for RegexReplace {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let text = text_of(value, "regex_replace")?;
        let pattern: String = required(args, "regex_replace", "pattern")?;
        let replacement: String = required(args, "regex_replace", "rep")?;
        Ok(Value::String(self.regex(&pattern)?.replace_all(text, replacement.as_str()).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn no_args() -> HashMap<String, Value> {
        HashMap::new()
    }

    #[test]
    fn base64_round_trips_text_and_matches_known_encodings() {
        for (text, encoded) in [("", ""), ("f", "Zg=="), ("foobar", "Zm9vYmFy"), ("héllo ☺", "aMOpbGxvIOKYug==")] {
            assert_eq!(Base64Encode.filter(&json!(text), &no_args()).unwrap(), encoded);
            assert_eq!(Base64Decode.filter(&json!(encoded), &no_args()).unwrap(), text);
        }
    }

    #[test]
    fn base64_refuses_what_it_cannot_read() {
        assert!(Base64Decode.filter(&json!("not base64!"), &no_args()).unwrap_err().to_string().contains("not base64"));
        // "/w==" is the single byte 0xFF.
        assert!(Base64Decode.filter(&json!("/w=="), &no_args()).unwrap_err().to_string().contains("UTF-8"));
        assert!(Base64Encode.filter(&json!(3), &no_args()).unwrap_err().to_string().contains("string"));
    }

    #[test]
    fn regex_replace_expands_named_and_numbered_groups() {
        let filter = RegexReplace::default();
        let args = |pattern: &str, rep: &str| -> HashMap<String, Value> {
            [("pattern".to_string(), json!(pattern)), ("rep".to_string(), json!(rep))].into()
        };
        let swapped =
            filter.filter(&json!("World, Hello"), &args(r"(?P<subject>\w+), (?P<greeting>\w+)", "$greeting $subject"));
        assert_eq!(swapped.unwrap(), "Hello World");
        assert_eq!(filter.filter(&json!("a1b22c"), &args(r"(\d+)", "<${1}>")).unwrap(), "a<1>b<22>c");
        // The compiled pattern is reused.
        assert_eq!(filter.filter(&json!("x9"), &args(r"(\d+)", "<${1}>")).unwrap(), "x<9>");
        assert_eq!(filter.compiled.lock().unwrap().len(), 2);
        assert!(filter.filter(&json!("x"), &args("(", "")).unwrap_err().to_string().contains("pattern"));
        assert!(filter.filter(&json!("x"), &[("pattern".to_string(), json!("x"))].into()).is_err());
    }
}
