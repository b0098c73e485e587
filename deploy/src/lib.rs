//! Deploys what `pledge build` wrote, checked against its `_manifest.json`: atomic releases into
//! a local folder with a `current` link and rollback, or an upload of the changed files to an
//! object store. It never builds, and never depends on the generator: the binary passes the
//! cache policy in.

mod error;
pub mod manifest;
pub mod objects;
pub mod releases;

use std::fmt;
use std::num::NonZeroUsize;
use std::path::Path;

pub use error::DeployError;
pub use manifest::{FileEntry, MANIFEST_FILE, Manifest};
/// Callers name stores and S3 options with this crate's own version of `object_store`.
pub use object_store;
pub use objects::{CachePolicy, ObjectTarget, UploadOptions, UploadReport, upload};
pub use releases::{ReleaseReport, Releases, RollbackReport};

/// Releases a folder target keeps unless told otherwise.
pub const DEFAULT_KEEP: NonZeroUsize = NonZeroUsize::new(5).expect("5 is not zero");

/// Where a deploy goes: a local folder of releases, or an object store.
#[derive(Clone, Debug)]
pub enum Target {
    Releases(Releases),
    Objects(ObjectTarget),
}

impl Target {
    /// `s3://bucket/prefix` (credentials from `AWS_*`), `file:///abs/path` (object-store layout
    /// in a folder), or a plain path: a folder of releases.
    pub fn parse(target: &str) -> Result<Self, DeployError> {
        match target.split_once("://") {
            None => Ok(Self::Releases(Releases::new(target))),
            Some(("s3", _)) => Ok(Self::Objects(ObjectTarget::s3(target, [])?)),
            Some(("file", _)) => Ok(Self::Objects(ObjectTarget::local(target)?)),
            Some((scheme, _)) => Err(DeployError::BadTarget {
                target: target.to_owned(),
                reason: format!("unknown scheme `{scheme}` (s3://, file:// or a folder path)"),
            }),
        }
    }
}

/// What `pledge deploy` was asked for.
pub struct DeployOptions {
    /// Releases to keep in a folder target (default `DEFAULT_KEEP`); not for object stores.
    pub keep: Option<NonZeroUsize>,
    /// Delete remote objects the site no longer has; object stores only.
    pub prune: bool,
    pub rollback: bool,
    pub cache_control: CachePolicy,
}

/// What a deploy did, printable for the operator.
#[derive(Debug)]
pub enum Deployed {
    Released(ReleaseReport),
    RolledBack(RollbackReport),
    Uploaded(UploadReport),
}

/// One `pledge deploy`: checks the options fit the target, then releases, rolls back or uploads.
pub async fn run(output: &Path, target: &Target, options: &DeployOptions) -> Result<Deployed, DeployError> {
    match target {
        Target::Releases(releases) => {
            if options.prune {
                return Err(DeployError::Usage(
                    "--prune is for object stores; release folders keep --keep releases".into(),
                ));
            }
            if options.rollback {
                return releases.rollback().map(Deployed::RolledBack);
            }
            releases.deploy(output, options.keep.unwrap_or(DEFAULT_KEEP)).map(Deployed::Released)
        }
        Target::Objects(objects) => {
            if options.rollback {
                return Err(DeployError::Usage(
                    "--rollback needs a release folder; an object store keeps only the site deployed last".into(),
                ));
            }
            if options.keep.is_some() {
                return Err(DeployError::Usage(
                    "--keep is for release folders; an object store keeps no releases".into(),
                ));
            }
            let upload_options = UploadOptions {
                prune: options.prune,
                cache_control: options.cache_control,
                ..UploadOptions::default()
            };
            upload(output, objects, &upload_options).await.map(Deployed::Uploaded)
        }
    }
}

impl fmt::Display for Deployed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Released(report) => report.fmt(f),
            Self::RolledBack(report) => report.fmt(f),
            Self::Uploaded(report) => report.fmt(f),
        }
    }
}

pub(crate) fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}
