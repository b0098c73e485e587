//! `Releases`: a local deploy target holding `releases/<UTC timestamp>/` folders and a `current`
//! symbolic link, switched with one `rename` so a web server never sees a half-copied site.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::manifest::{MANIFEST_FILE, Manifest, copy_verified};
use crate::{DeployError, human_bytes};

const RELEASES: &str = "releases";
const CURRENT: &str = "current";

/// A release folder target: `root/releases/NAME/` plus `root/current → releases/NAME`.
#[derive(Clone, Debug)]
pub struct Releases {
    root: PathBuf,
}

#[derive(Debug)]
pub struct ReleaseReport {
    pub release: String,
    /// Files hard-linked from the previous release because their content is unchanged.
    pub linked: usize,
    pub copied: usize,
    pub bytes_copied: u64,
    /// Old releases deleted to keep the newest N.
    pub removed: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct RollbackReport {
    pub from: String,
    pub to: String,
}

impl Releases {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of one release.
    pub fn release_dir(&self, name: &str) -> PathBuf {
        self.root.join(RELEASES).join(name)
    }

    /// Release names, oldest first. Anything in `releases/` not named like a release (a staging
    /// folder, a file an operator left) is not a release and is never deleted.
    pub fn list(&self) -> Result<Vec<String>, DeployError> {
        let dir = self.root.join(RELEASES);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(DeployError::io(dir, error)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| DeployError::io(&dir, error))?;
            if let Some(name) = entry.file_name().to_str()
                && release_order(name).is_some()
            {
                names.push(name.to_owned());
            }
        }
        names.sort_by(|a, b| release_order(a).cmp(&release_order(b)));
        Ok(names)
    }

    /// The release `current` points to, if there is one.
    pub fn current(&self) -> Result<Option<String>, DeployError> {
        let link = self.root.join(CURRENT);
        match std::fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => {}
            Ok(_) => return Err(DeployError::CurrentNotALink { root: self.root.clone() }),
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(DeployError::io(link, error)),
        }
        let target = std::fs::read_link(&link).map_err(|error| DeployError::io(&link, error))?;
        let name = target.file_name().and_then(|name| name.to_str()).map(str::to_owned);
        match name {
            Some(name) if target.parent() == Some(Path::new(RELEASES)) => Ok(Some(name)),
            _ => Err(DeployError::CurrentNotALink { root: self.root.clone() }),
        }
    }

    /// Deploys `output` as a new release named after the current UTC time.
    pub fn deploy(&self, output: &Path, keep: NonZeroUsize) -> Result<ReleaseReport, DeployError> {
        self.deploy_at(output, keep, SystemTime::now())
    }

    /// As `deploy`, with the clock passed in so tests can name releases.
    pub fn deploy_at(&self, output: &Path, keep: NonZeroUsize, now: SystemTime) -> Result<ReleaseReport, DeployError> {
        let started = Instant::now();
        // Verified before anything is written, so a refused folder leaves the target as it was.
        let (manifest, manifest_bytes) = Manifest::read_with_bytes(output)?;
        manifest.verify(output)?;
        let current = self.current()?;
        let releases_dir = self.root.join(RELEASES);
        std::fs::create_dir_all(&releases_dir).map_err(|error| DeployError::io(&releases_dir, error))?;

        // Built under a dot name that `list` ignores: a crash mid-copy leaves no release behind.
        let staging = releases_dir.join(format!(".staging-{}", unique_suffix()));
        std::fs::create_dir(&staging).map_err(|error| DeployError::io(&staging, error))?;
        let previous = current.as_deref().and_then(|name| Previous::read(self.release_dir(name)));
        let counts = match fill(&staging, output, (&manifest, &manifest_bytes), previous.as_ref()) {
            Ok(counts) => counts,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(error);
            }
        };

        let release = claim_name(&staging, &releases_dir, &timestamp(now)).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staging);
        })?;
        sync_dir(&releases_dir)?;
        self.point_current_to(&release)?;
        let removed = self.remove_old(keep, &release)?;
        Ok(ReleaseReport {
            release,
            linked: counts.linked,
            copied: counts.copied,
            bytes_copied: counts.bytes,
            removed,
            elapsed: started.elapsed(),
        })
    }

    /// Points `current` at the release just before it in name order, after checking that release
    /// still matches its manifest (a damaged release is no place to fall back to).
    pub fn rollback(&self) -> Result<RollbackReport, DeployError> {
        let current = self.current()?.ok_or_else(|| DeployError::NoCurrentRelease { root: self.root.clone() })?;
        let names = self.list()?;
        let earlier = names
            .iter()
            .position(|name| *name == current)
            .and_then(|index| index.checked_sub(1))
            .map(|index| names[index].clone());
        let Some(to) = earlier else {
            return Err(DeployError::NoEarlierRelease { root: self.root.clone(), current });
        };
        let dir = self.release_dir(&to);
        Manifest::read(&dir)?.verify(&dir)?;
        self.point_current_to(&to)?;
        Ok(RollbackReport { from: current, to })
    }

    /// Replaces `current` with a new link in one `rename`: readers see the old or the new release,
    /// never a missing link. The link is relative so the target folder can be moved or mounted.
    fn point_current_to(&self, release: &str) -> Result<(), DeployError> {
        let temporary = self.root.join(format!(".current-{}", unique_suffix()));
        let target = Path::new(RELEASES).join(release);
        std::os::unix::fs::symlink(&target, &temporary).map_err(|error| DeployError::io(&temporary, error))?;
        let link = self.root.join(CURRENT);
        if let Err(error) = std::fs::rename(&temporary, &link) {
            let _ = std::fs::remove_file(&temporary);
            return Err(match error.kind() {
                ErrorKind::IsADirectory | ErrorKind::DirectoryNotEmpty => {
                    DeployError::CurrentNotALink { root: self.root.clone() }
                }
                _ => DeployError::io(link, error),
            });
        }
        sync_dir(&self.root)
    }

    /// Deletes all but the newest `keep` releases, and never the one `current` points to (after a
    /// rollback it may be older than those kept).
    fn remove_old(&self, keep: NonZeroUsize, current: &str) -> Result<Vec<String>, DeployError> {
        let names = self.list()?;
        let old = names.len().saturating_sub(keep.get());
        let mut removed = Vec::new();
        for name in names.into_iter().take(old).filter(|name| name != current) {
            let dir = self.release_dir(&name);
            std::fs::remove_dir_all(&dir).map_err(|error| DeployError::io(dir, error))?;
            removed.push(name);
        }
        Ok(removed)
    }
}

#[derive(Default)]
struct Counts {
    linked: usize,
    copied: usize,
    bytes: u64,
}

/// The previous release's files by content hash, so a renamed but unchanged file is linked too.
struct Previous {
    dir: PathBuf,
    /// SHA-256 → (path, size).
    by_hash: HashMap<String, (String, u64)>,
}

impl Previous {
    /// A release whose manifest cannot be read is simply not linked from.
    fn read(dir: PathBuf) -> Option<Self> {
        let manifest = Manifest::read(&dir).ok()?;
        let by_hash = manifest.files.into_iter().map(|(path, entry)| (entry.sha256, (path, entry.size))).collect();
        Some(Self { dir, by_hash })
    }
}

fn fill(
    staging: &Path,
    output: &Path,
    (manifest, manifest_bytes): (&Manifest, &[u8]),
    previous: Option<&Previous>,
) -> Result<Counts, DeployError> {
    let mut counts = Counts::default();
    let mut dirs = vec![staging.to_path_buf()];
    for (path, entry) in &manifest.files {
        let destination = staging.join(path);
        let parent = destination.parent().expect("a file inside the staging folder has a parent");
        if !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|error| DeployError::io(parent, error))?;
            for dir in parent.ancestors().take_while(|dir| *dir != staging) {
                dirs.push(dir.to_path_buf());
            }
        }
        let same_in_previous = previous.and_then(|previous| {
            let (previous_path, size) = previous.by_hash.get(&entry.sha256)?;
            let source = previous.dir.join(previous_path);
            // The size on disk guards against a previous release edited by hand since.
            let on_disk = std::fs::metadata(&source).ok()?.len();
            (*size == entry.size && on_disk == entry.size).then_some(source)
        });
        // Linking can fail (another file system, a link-count limit): copying is always right.
        if let Some(source) = same_in_previous
            && std::fs::hard_link(&source, &destination).is_ok()
        {
            counts.linked += 1;
            continue;
        }
        if !copy_verified(&output.join(path), &destination, entry)? {
            let problem = "changed while deploying".to_owned();
            return Err(DeployError::Mismatch { dir: output.to_path_buf(), file: path.clone(), problem });
        }
        counts.copied += 1;
        counts.bytes += entry.size;
    }
    let manifest_path = staging.join(MANIFEST_FILE);
    File::create(&manifest_path)
        .and_then(|mut file| file.write_all(manifest_bytes).and_then(|()| file.sync_all()))
        .map_err(|error| DeployError::io(&manifest_path, error))?;
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        sync_dir(dir)?;
    }
    Ok(counts)
}

fn sync_dir(dir: &Path) -> Result<(), DeployError> {
    File::open(dir).and_then(|file| file.sync_all()).map_err(|error| DeployError::io(dir, error))
}

/// Renames the staging folder to the first free name among `base`, `base-2`, `base-3`…; the
/// rename itself claims the name, so two deploys in the same second cannot share one.
fn claim_name(staging: &Path, releases_dir: &Path, base: &str) -> Result<String, DeployError> {
    for n in 1u32.. {
        let name = if n == 1 { base.to_owned() } else { format!("{base}-{n}") };
        let destination = releases_dir.join(&name);
        if std::fs::symlink_metadata(&destination).is_ok() {
            continue;
        }
        match std::fs::rename(staging, &destination) {
            Ok(()) => return Ok(name),
            Err(error) if matches!(error.kind(), ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty) => {}
            Err(error) => return Err(DeployError::io(destination, error)),
        }
    }
    unreachable!("some suffix is always free")
}

/// `20261202T081500Z`: sorts as time does and is safe in any file system and URL.
fn timestamp(now: SystemTime) -> String {
    let rfc3339 = humantime::format_rfc3339_seconds(now).to_string();
    rfc3339.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// The sort key of a release name, or `None` for a name that is not a release. Suffixes compare
/// as numbers so `-10` comes after `-9`.
fn release_order(name: &str) -> Option<(&str, u32)> {
    let (base, suffix) = name.split_at_checked(16)?;
    let bytes = base.as_bytes();
    let shaped =
        bytes[..8].iter().chain(&bytes[9..15]).all(u8::is_ascii_digit) && bytes[8] == b'T' && bytes[15] == b'Z';
    if !shaped {
        return None;
    }
    if suffix.is_empty() {
        return Some((base, 1));
    }
    let n: u32 = suffix.strip_prefix('-')?.parse().ok()?;
    (n >= 2 && !suffix.starts_with("-0")).then_some((base, n))
}

/// Unique within this machine for temporary names: process id, clock and a counter.
fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl fmt::Display for ReleaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Released {}: {} files linked from the previous release, {} copied ({}), in {} ms; current → releases/{}",
            self.release,
            self.linked,
            self.copied,
            human_bytes(self.bytes_copied),
            self.elapsed.as_millis(),
            self.release
        )?;
        if !self.removed.is_empty() {
            write!(f, "\nRemoved old releases: {}", self.removed.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rolled back from {} to {}; current → releases/{}", self.from, self.to, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_sort_by_time_then_numeric_suffix() {
        let mut names = vec!["20261202T081500Z-10", "20261202T081500Z-2", "20261201T235959Z", "20261202T081500Z"];
        names.sort_by(|a, b| release_order(a).cmp(&release_order(b)));
        assert_eq!(names, ["20261201T235959Z", "20261202T081500Z", "20261202T081500Z-2", "20261202T081500Z-10"]);
    }

    #[test]
    fn names_that_are_not_releases_are_ignored() {
        for name in [
            ".staging-1-2-3",
            "20261202T081500Z-1",
            "20261202T081500Z-02",
            "2026120XT081500Z",
            "notes.txt",
            "20261202T081500Zx",
        ] {
            assert_eq!(release_order(name), None, "{name}");
        }
    }

    #[test]
    fn timestamps_are_compact_utc() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_199_300);
        assert_eq!(timestamp(at), "20261202T081500Z");
    }
}
