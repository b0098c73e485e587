//! `get_hash`: a SHA-2 digest of a site file or a string, for subresource integrity and cache keys.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use sha2::{Digest, Sha256, Sha384, Sha512};
use tera::{Function, Result as TeraResult, Value};

use super::{OnceCache, SiteFiles, modified, optional};

/// `get_hash(path= | literal=, sha_type=384, base64=true)`, as Zola 0.22 documents it: the
/// SHA-256, SHA-384 or SHA-512 digest of a file (found by [`SiteFiles::find`]) or of a string's
/// UTF-8 bytes, in standard padded base64 or, with `base64=false`, lowercase hex.
///
/// A base template often asks for the same file's hash on every page, so file digests are cached
/// by path, modification time and digest.
pub(crate) struct GetHash {
    files: Arc<SiteFiles>,
    cache: DigestCache,
}

/// A file's digest by path, modification time and `sha_type`.
type DigestCache = OnceCache<(PathBuf, Option<SystemTime>, u16), Result<Vec<u8>, String>>;

impl GetHash {
    pub(crate) fn new(files: Arc<SiteFiles>) -> Self {
        Self { files, cache: OnceCache::default() }
    }
}

impl Function for GetHash {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let sha_type: u16 = optional(args, "get_hash", "sha_type")?.unwrap_or(384);
        if !matches!(sha_type, 256 | 384 | 512) {
            return Err(format!("get_hash(): `sha_type` {sha_type} is not 256, 384 or 512").into());
        }
        let base64: bool = optional(args, "get_hash", "base64")?.unwrap_or(true);
        let path: Option<String> = optional(args, "get_hash", "path")?;
        let literal: Option<String> = optional(args, "get_hash", "literal")?;
        let digest = match (path, literal) {
            (Some(requested), None) => {
                let path = self.files.find(&requested).map_err(|e| format!("get_hash(): {e}"))?.ok_or_else(|| {
                    format!("get_hash(): `{requested}` is not in the site, its static or its content folder")
                })?;
                let key = (path.clone(), modified(&path), sha_type);
                self.cache.get_or_compute(key, || {
                    std::fs::read(&path)
                        .map(|bytes| digest_of(&bytes, sha_type))
                        .map_err(|e| format!("get_hash(): cannot read {}: {e}", path.display()))
                })?
            }
            (None, Some(literal)) => digest_of(literal.as_bytes(), sha_type),
            _ => return Err("get_hash() needs exactly one of `path` or `literal`".into()),
        };
        let text = if base64 { base64::engine::general_purpose::STANDARD.encode(digest) } else { hex::encode(digest) };
        Ok(Value::String(text))
    }
}

fn digest_of(bytes: &[u8], sha_type: u16) -> Vec<u8> {
    match sha_type {
        256 => Sha256::digest(bytes).to_vec(),
        512 => Sha512::digest(bytes).to_vec(),
        _ => Sha384::digest(bytes).to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hash(function: &GetHash, pairs: &[(&str, Value)]) -> TeraResult<Value> {
        function.call(&pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    fn function_for(dir: &std::path::Path) -> GetHash {
        GetHash::new(Arc::new(SiteFiles::new(dir, &dir.join("content"), &[dir.join("static")])))
    }

    // Known vectors, as `sha256sum`, `sha384sum` and `sha512sum` print them.
    const EMPTY_256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const EMPTY_384: &str =
        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b";
    const ABC_512: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn a_literal_hashes_to_the_known_vectors() {
        let f = function_for(std::path::Path::new("."));
        let hex = json!(false);
        assert_eq!(
            hash(&f, &[("literal", json!("")), ("sha_type", json!(256)), ("base64", hex.clone())]).unwrap(),
            EMPTY_256
        );
        assert_eq!(hash(&f, &[("literal", json!("")), ("base64", hex.clone())]).unwrap(), EMPTY_384);
        assert_eq!(hash(&f, &[("literal", json!("abc")), ("sha_type", json!(512)), ("base64", hex)]).unwrap(), ABC_512);
    }

    #[test]
    fn base64_is_the_default_output() {
        let f = function_for(std::path::Path::new("."));
        // `printf '' | openssl dgst -sha384 -binary | base64`
        assert_eq!(
            hash(&f, &[("literal", json!(""))]).unwrap(),
            "OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"
        );
    }

    #[test]
    fn a_file_is_hashed_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("static/js")).unwrap();
        std::fs::write(dir.path().join("static/js/app.js"), "").unwrap();
        let f = function_for(dir.path());
        let args = [("path", json!("js/app.js")), ("sha_type", json!(256)), ("base64", json!(false))];
        assert_eq!(hash(&f, &args).unwrap(), EMPTY_256);
        assert_eq!(hash(&f, &args).unwrap(), EMPTY_256);
    }

    #[test]
    fn bad_arguments_and_missing_files_are_errors() {
        let f = function_for(std::path::Path::new("."));
        for (pairs, expected) in [
            (vec![("literal", json!("")), ("sha_type", json!(1))], "256, 384 or 512"),
            (vec![], "exactly one"),
            (vec![("path", json!("no-such-file.js"))], "no-such-file.js"),
            (vec![("path", json!("../x"))], "outside the site"),
        ] {
            let error = hash(&f, &pairs).unwrap_err().to_string();
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
    }
}
