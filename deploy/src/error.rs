//! `DeployError`: everything that can stop a deploy, each naming the file, release or target involved.

use std::path::PathBuf;

use crate::manifest::MANIFEST_FILE;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    // The cause is in the message rather than `source()`, so a printed chain says it once.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{} has no {MANIFEST_FILE}: deploy a folder written by `pledge build`", dir.display())]
    NoManifest { dir: PathBuf },
    #[error("{origin}: not a deploy manifest: {reason}")]
    BadManifest { origin: String, reason: String },
    #[error("{}: `{file}` does not match {MANIFEST_FILE}: {problem}", dir.display())]
    Mismatch { dir: PathBuf, file: String, problem: String },
    #[error("{}: `{file}` cannot be deployed: {reason}", dir.display())]
    Unsupported { dir: PathBuf, file: String, reason: String },
    #[error("{}: no current release (`current` does not exist)", root.display())]
    NoCurrentRelease { root: PathBuf },
    #[error("{}: `current` must be a symbolic link to releases/NAME", root.display())]
    CurrentNotALink { root: PathBuf },
    #[error("{}: no release before {current} to roll back to", root.display())]
    NoEarlierRelease { root: PathBuf, current: String },
    #[error("`{target}` is not a deploy target: {reason}")]
    BadTarget { target: String, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("{action} `{location}`: {error}")]
    Store { action: &'static str, location: String, error: object_store::Error },
}

impl DeployError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io { path: path.into(), error }
    }
}
