//! `ObjectTarget` and `upload`: sends the files that changed since the last deploy to an object
//! store (S3 or compatible), assets before the HTML that references them and the manifest last.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::{Path as ObjectPath, PathPart};
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};

use crate::manifest::{MANIFEST_FILE, Manifest, hash_bytes};
use crate::{DeployError, human_bytes};

/// Cache-Control for one file, given its path with any `.gz`/`.br` of a precompressed copy removed
/// (so `index.html.br` is asked about as `index.html`). `None` sets no Cache-Control.
pub type CachePolicy = fn(&str) -> Option<String>;

/// Deploy tools and CDNs must always see the newest manifest.
const MANIFEST_CACHE_CONTROL: &str = "no-cache";

/// A store plus the prefix the site lives under. The prefix belongs to the site: `--prune`
/// deletes whatever is under it and not in the manifest.
#[derive(Clone, Debug)]
pub struct ObjectTarget {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Whether the store keeps Content-Type and friends (a local file system keeps none).
    attributes: bool,
    description: String,
}

pub struct UploadOptions {
    pub prune: bool,
    /// Uploads in flight at once.
    pub concurrency: usize,
    pub cache_control: CachePolicy,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self { prune: false, concurrency: 8, cache_control: |_| None }
    }
}

#[derive(Debug)]
pub struct UploadReport {
    pub target: String,
    /// Paths uploaded, in the order their uploads finished; `_manifest.json` last when it changed.
    pub uploaded: Vec<String>,
    pub unchanged: usize,
    /// Remote objects deleted by `--prune` (relative to the prefix).
    pub pruned: Vec<String>,
    /// Files listed in the remote manifest but no longer in the site, left because `--prune` was
    /// not given.
    pub stale: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl ObjectTarget {
    /// Any store, with the site under `prefix` (`""` for the root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, description: impl Into<String>) -> Self {
        let prefix = prefix.split('/').filter(|part| !part.is_empty()).map(PathPart::from).collect();
        Self { store, prefix, attributes: true, description: description.into() }
    }

    /// For stores that refuse object attributes rather than ignore them (`LocalFileSystem`).
    pub fn without_attributes(mut self) -> Self {
        self.attributes = false;
        self
    }

    /// `s3://bucket/prefix` with credentials, region and endpoint from the `AWS_*` environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP`…), then `options` on top.
    pub fn s3(url: &str, options: impl IntoIterator<Item = (AmazonS3ConfigKey, String)>) -> Result<Self, DeployError> {
        let parsed = parse_url(url)?;
        if parsed.scheme() != "s3" {
            return Err(bad_target(url, "expected s3://bucket/prefix"));
        }
        let mut builder = AmazonS3Builder::from_env().with_url(url);
        for (key, value) in options {
            builder = builder.with_config(key, value);
        }
        let store = builder.build().map_err(|error| bad_target(url, &error.to_string()))?;
        Ok(Self::new(Arc::new(store), parsed.path(), url))
    }

    /// `file:///absolute/folder`: the object-store layout in a local folder (created if missing).
    pub fn local(url: &str) -> Result<Self, DeployError> {
        let parsed = parse_url(url)?;
        let root = parsed.to_file_path().map_err(|()| bad_target(url, "expected file:///absolute/path"))?;
        std::fs::create_dir_all(&root).map_err(|error| DeployError::io(&root, error))?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(|error| bad_target(url, &error.to_string()))?;
        Ok(Self::new(Arc::new(store), "", url).without_attributes())
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where a site file lives in the store.
    pub fn location(&self, relative: &str) -> ObjectPath {
        self.prefix.parts().chain(relative.split('/').map(PathPart::from)).collect()
    }

    /// The manifest of the last successful deploy; none yet means everything is new.
    pub async fn remote_manifest(&self) -> Result<Manifest, DeployError> {
        let location = self.location(MANIFEST_FILE);
        let store_error =
            |source| DeployError::Store { action: "reading", location: location.to_string(), error: source };
        match self.store.get(&location).await {
            Ok(result) => {
                let bytes = result.bytes().await.map_err(store_error)?;
                // Unreadable is an error, not "empty": guessing would re-upload or prune blindly.
                // Deleting the remote manifest forces a full upload.
                Manifest::from_json(&bytes, &format!("{} ({location})", self.description))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Manifest::default()),
            Err(source) => Err(store_error(source)),
        }
    }
}

/// The order files go up in. A visitor may load a page at any moment of the deploy, so every
/// asset a new page references must be there before the page is; the rules files describe the
/// site as a whole; the manifest goes last so a failed deploy is retried from the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Assets,
    Pages,
    Rules,
}

struct Upload<'a> {
    path: &'a str,
    /// The original's path for a precompressed copy, else `path`.
    content_path: &'a str,
    encoding: Option<&'static str>,
    phase: Phase,
}

fn classify<'a>(path: &'a str, manifest: &Manifest) -> Upload<'a> {
    // `x.gz` is a precompressed copy only beside its `x`; an archive shipped as is stays gzip.
    let precompressed = [(".gz", "gzip"), (".br", "br")].into_iter().find_map(|(extension, encoding)| {
        let original = path.strip_suffix(extension)?;
        manifest.files.contains_key(original).then_some((original, encoding))
    });
    let (content_path, encoding) =
        precompressed.map_or((path, None), |(original, encoding)| (original, Some(encoding)));
    let phase = if content_path.ends_with(".html") || content_path.ends_with(".htm") {
        Phase::Pages
    } else if !content_path.contains('/') && content_path.starts_with('_') {
        Phase::Rules
    } else {
        Phase::Assets
    };
    Upload { path, content_path, encoding, phase }
}

fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if textual { format!("{}; charset=utf-8", mime.essence_str()) } else { mime.essence_str().to_owned() }
}

/// Uploads the site in `output` (checked against its manifest first) to `target`.
pub async fn upload(
    output: &Path,
    target: &ObjectTarget,
    options: &UploadOptions,
) -> Result<UploadReport, DeployError> {
    let started = Instant::now();
    let (local, manifest_bytes) = Manifest::read_with_bytes(output)?;
    local.verify(output)?;
    let remote = target.remote_manifest().await?;

    let changed: Vec<Upload> = local
        .files
        .iter()
        .filter(|(path, entry)| remote.files.get(*path) != Some(*entry))
        .map(|(path, _)| classify(path, &local))
        .collect();
    let unchanged = local.files.len() - changed.len();
    let stale = remote.files.keys().filter(|path| !local.files.contains_key(*path)).count();

    let mut uploaded = Vec::new();
    let mut bytes = 0;
    for phase in [Phase::Assets, Phase::Pages, Phase::Rules] {
        // Each phase finishes before the next starts; within one, order does not matter.
        let batch = changed.iter().filter(|upload| upload.phase == phase);
        let mut finished = futures_util::stream::iter(batch)
            .map(|upload| put_file(output, target, options, &local, upload))
            .buffer_unordered(options.concurrency.max(1));
        while let Some((path, size)) = finished.try_next().await? {
            uploaded.push(path.to_owned());
            bytes += size;
        }
    }
    if local != remote {
        bytes += manifest_bytes.len() as u64;
        let attributes = [
            (Attribute::ContentType, "application/json".to_owned()),
            (Attribute::CacheControl, MANIFEST_CACHE_CONTROL.to_owned()),
        ];
        put(target, MANIFEST_FILE, manifest_bytes, attributes.into_iter()).await?;
        uploaded.push(MANIFEST_FILE.to_owned());
    }
    let pruned = if options.prune { prune(target, &local, options.concurrency).await? } else { Vec::new() };
    let stale = if options.prune { 0 } else { stale };
    Ok(UploadReport {
        target: target.description.clone(),
        uploaded,
        unchanged,
        pruned,
        stale,
        bytes,
        elapsed: started.elapsed(),
    })
}

async fn put_file<'a>(
    output: &Path,
    target: &ObjectTarget,
    options: &UploadOptions,
    manifest: &Manifest,
    upload: &Upload<'a>,
) -> Result<(&'a str, u64), DeployError> {
    let file = output.join(upload.path);
    let content = tokio::fs::read(&file).await.map_err(|error| DeployError::io(&file, error))?;
    // The folder was verified at the start; a build swapped in since must not go up half-checked.
    if Some(&hash_bytes(&content)) != manifest.files.get(upload.path) {
        let problem = "changed while deploying".to_owned();
        return Err(DeployError::Mismatch { dir: output.to_path_buf(), file: upload.path.to_owned(), problem });
    }
    let size = content.len() as u64;
    let mut attributes = vec![(Attribute::ContentType, content_type(upload.content_path))];
    if let Some(encoding) = upload.encoding {
        attributes.push((Attribute::ContentEncoding, encoding.to_owned()));
    }
    if let Some(cache_control) = (options.cache_control)(upload.content_path) {
        attributes.push((Attribute::CacheControl, cache_control));
    }
    put(target, upload.path, content, attributes.into_iter()).await?;
    Ok((upload.path, size))
}

async fn put(
    target: &ObjectTarget,
    relative: &str,
    content: Vec<u8>,
    attributes: impl Iterator<Item = (Attribute, String)>,
) -> Result<(), DeployError> {
    let location = target.location(relative);
    let attributes: Attributes = if target.attributes {
        attributes.map(|(key, value)| (key, object_store::AttributeValue::from(value))).collect()
    } else {
        Attributes::new()
    };
    let options = PutOptions { attributes, ..PutOptions::default() };
    target
        .store
        .put_opts(&location, PutPayload::from(content), options)
        .await
        .map_err(|source| DeployError::Store { action: "uploading", location: location.to_string(), error: source })?;
    Ok(())
}

/// Deletes every object under the prefix that the new manifest does not list, so files left by
/// earlier deploys without `--prune` go too.
async fn prune(target: &ObjectTarget, manifest: &Manifest, concurrency: usize) -> Result<Vec<String>, DeployError> {
    let mut keep: HashSet<ObjectPath> = manifest.files.keys().map(|path| target.location(path)).collect();
    keep.insert(target.location(MANIFEST_FILE));
    let prefix = (target.prefix.parts().count() > 0).then_some(&target.prefix);
    let listed: Vec<_> = target.store.list(prefix).try_collect().await.map_err(|source| DeployError::Store {
        action: "listing",
        location: target.prefix.to_string(),
        error: source,
    })?;
    let doomed: Vec<ObjectPath> =
        listed.into_iter().map(|meta| meta.location).filter(|location| !keep.contains(location)).collect();
    let deleted = futures_util::stream::iter(doomed)
        .map(|location| async move {
            target.store.delete(&location).await.map_err(|source| DeployError::Store {
                action: "deleting",
                location: location.to_string(),
                error: source,
            })?;
            let relative: Vec<String> = location
                .prefix_match(&target.prefix)
                .map(|parts| parts.map(|part| AsRef::<str>::as_ref(&part).to_owned()).collect())
                .unwrap_or_default();
            Ok::<_, DeployError>(relative.join("/"))
        })
        .buffer_unordered(concurrency.max(1));
    let mut pruned: Vec<String> = deleted.try_collect().await?;
    pruned.sort();
    Ok(pruned)
}

fn parse_url(url: &str) -> Result<url::Url, DeployError> {
    url::Url::parse(url).map_err(|error| bad_target(url, &error.to_string()))
}

fn bad_target(target: &str, reason: &str) -> DeployError {
    DeployError::BadTarget { target: target.to_owned(), reason: reason.to_owned() }
}

impl fmt::Display for UploadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self.uploaded.iter().filter(|path| *path != MANIFEST_FILE).count();
        let manifest = if self.uploaded.iter().any(|path| path == MANIFEST_FILE) { " and the manifest" } else { "" };
        write!(
            f,
            "Uploaded {files} changed files{manifest} ({}) to {}, {} unchanged, {} pruned, in {} ms",
            human_bytes(self.bytes),
            self.target,
            self.unchanged,
            self.pruned.len(),
            self.elapsed.as_millis()
        )?;
        if self.stale > 0 {
            write!(f, "\n{} remote files are no longer in the site; --prune deletes them", self.stale)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_name_text_charsets_and_precompressed_originals() {
        let manifest = Manifest::from_json(
            br#"{"version":1,"files":{"a.css":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}}}"#,
            "test",
        )
        .unwrap();
        let copy = classify("a.css.br", &manifest);
        assert_eq!((copy.content_path, copy.encoding), ("a.css", Some("br")));
        assert_eq!(content_type(copy.content_path), "text/css; charset=utf-8");
        let archive = classify("data.tar.gz", &manifest);
        assert_eq!((archive.content_path, archive.encoding), ("data.tar.gz", None));
        assert_eq!(content_type("logo.png"), "image/png");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(classify("_headers", &manifest).phase, Phase::Rules);
        assert_eq!(classify("ar/_notes.txt", &manifest).phase, Phase::Assets);
    }
}
