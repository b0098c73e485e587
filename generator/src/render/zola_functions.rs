//! The Tera functions and filters Zola 0.22 adds that need no site model: `load_data`,
//! `get_hash`, `get_image_metadata`, and the filters `base64_encode`, `base64_decode`,
//! `regex_replace`. (`get_url`, `trans`, `get_page` and `get_section` live in `functions.rs`.)
//!
//! The functions read files through Zola's file searching logic ([`SiteFiles`]) and never leave
//! the site's folders. Only `load_data(url=...)` talks to the network, and only because a
//! template asks it to.

mod data_formats;
mod file_search;
mod get_hash;
mod image_metadata;
mod load_data;
mod resize_image;
mod text_filters;

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tera::Tera;

use super::arguments::{optional, required};

pub(crate) use file_search::SiteFiles;
pub(crate) use get_hash::GetHash;
pub(crate) use image_metadata::GetImageMetadata;
pub(crate) use load_data::LoadData;
pub(crate) use text_filters::{Base64Decode, Base64Encode, RegexReplace};

/// The images `resize_image` made while the pages rendered, by output path.
pub(crate) type ResizedImages = Arc<Mutex<std::collections::BTreeMap<String, Vec<u8>>>>;

/// Registers every function and filter of this module on `tera`, finding files through `files`,
/// and returns where `resize_image` leaves its images. Each call makes fresh caches, so call it
/// once per build.
pub(crate) fn register(tera: &mut Tera, files: Arc<SiteFiles>, base_url: &str) -> ResizedImages {
    let resize = resize_image::ResizeImage::new(files.clone(), base_url);
    let resized = resize.outputs.clone();
    tera.register_function("resize_image", resize);
    tera.register_function("load_data", LoadData::new(files.clone()));
    tera.register_function("get_hash", GetHash::new(files.clone()));
    tera.register_function("get_image_metadata", GetImageMetadata::new(files));
    tera.register_filter("base64_encode", Base64Encode);
    tera.register_filter("base64_decode", Base64Decode);
    tera.register_filter("regex_replace", RegexReplace::default());
    resized
}

/// Computes each key's value once per build. Pages render in parallel, so two pages asking for
/// the same file or URL at the same moment must wait for one computation, not start two.
struct OnceCache<K, V> {
    slots: Mutex<HashMap<K, Arc<OnceLock<V>>>>,
}

impl<K, V> Default for OnceCache<K, V> {
    fn default() -> Self {
        Self { slots: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V: Clone> OnceCache<K, V> {
    fn get_or_compute(&self, key: K, compute: impl FnOnce() -> V) -> V {
        // The map's lock is held only to find the slot; the slot's own lock covers the work.
        let slot = self.slots.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone();
        slot.get_or_init(compute).clone()
    }
}

/// The SHA-256 of site files in lowercase hex, as `get_url(cachebust=true)` appends it; each
/// file is read once per build (a base template asks on every page).
pub(crate) struct FileHashes {
    files: Arc<SiteFiles>,
    cache: OnceCache<(PathBuf, Option<std::time::SystemTime>), Result<String, String>>,
}

impl FileHashes {
    pub(crate) fn new(files: Arc<SiteFiles>) -> Self {
        Self { files, cache: OnceCache::default() }
    }

    pub(crate) fn sha256_hex(&self, requested: &str) -> Result<String, String> {
        let path = self
            .files
            .find(requested)?
            .ok_or_else(|| format!("`{requested}` is not in the site, its static or its content folder"))?;
        let key = (path.clone(), modified(&path));
        self.cache.get_or_compute(key, || {
            use sha2::Digest;
            std::fs::read(&path)
                .map(|bytes| hex::encode(sha2::Sha256::digest(bytes)))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
    }
}

/// A file's modification time, part of cache keys so an edited file is read again when the dev
/// server reuses the functions (Zola keys its cache the same way).
fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_functions_and_filters_are_callable_from_a_template() {
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("data.json"), r#"{"name": "bob"}"#).unwrap();
        let mut tera = Tera::default();
        let files = SiteFiles::new(site.path(), &site.path().join("content"), &[site.path().join("static")]);
        register(&mut tera, Arc::new(files), "https://x.org");
        tera.add_raw_template(
            "t",
            r#"{% set data = load_data(path="data.json") %}{{ data.name }} {{ "hi" | base64_encode }} {{ "a-b" | regex_replace(pattern="-", rep="+") }} {{ get_hash(literal="", sha_type=256, base64=false) }}"#,
        )
        .unwrap();

        let out = tera.render("t", &tera::Context::new()).unwrap();

        assert_eq!(out, "bob aGk= a+b e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
