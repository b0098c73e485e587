//! `Manifest`: the `_manifest.json` that `pledge build` writes beside the site, listing every file
//! with its SHA-256 and size; deploys compare against it instead of trusting timestamps.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DeployError;

/// The manifest's name in the output root; it lists every file but itself.
pub const MANIFEST_FILE: &str = "_manifest.json";
const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// Relative paths with `/` separators; a `BTreeMap` keeps them sorted, as the file has them.
    pub files: BTreeMap<String, FileEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Lower-case hex.
    pub sha256: String,
    pub size: u64,
}

impl Default for Manifest {
    fn default() -> Self {
        Self { version: VERSION, files: BTreeMap::new() }
    }
}

impl Manifest {
    /// Hashes every file under `dir` except the manifest itself. Symbolic links are refused:
    /// a release or an object store would copy what they point to, which the build never wrote.
    pub fn scan(dir: &Path) -> Result<Self, DeployError> {
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
            let entry = entry.map_err(|error| {
                let path = error.path().unwrap_or(dir).to_path_buf();
                DeployError::io(path, error.into())
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let relative = relative_name(dir, entry.path())?;
            if !entry.file_type().is_file() {
                let reason = "only regular files are deployed, not links".to_owned();
                return Err(DeployError::Unsupported { dir: dir.to_path_buf(), file: relative, reason });
            }
            if relative == MANIFEST_FILE {
                continue;
            }
            files.insert(relative, hash_file(entry.path())?);
        }
        Ok(Self { version: VERSION, files })
    }

    /// Reads `dir/_manifest.json`; a missing one is `NoManifest`, since deploying a folder that no
    /// build vouched for could publish a half-written or hand-edited site.
    pub fn read(dir: &Path) -> Result<Self, DeployError> {
        Self::read_with_bytes(dir).map(|(manifest, _)| manifest)
    }

    /// As `read`, with the file's bytes, so a deploy publishes the very manifest it checked.
    pub(crate) fn read_with_bytes(dir: &Path) -> Result<(Self, Vec<u8>), DeployError> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok((Self::from_json(&bytes, &path.display().to_string())?, bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(DeployError::NoManifest { dir: dir.to_path_buf() })
            }
            Err(error) => Err(DeployError::io(path, error)),
        }
    }

    /// Parses and validates a manifest; `origin` names where it came from in errors.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Self, DeployError> {
        let bad = |reason: String| DeployError::BadManifest { origin: origin.to_owned(), reason };
        let manifest: Self = serde_json::from_slice(bytes).map_err(|error| bad(error.to_string()))?;
        if manifest.version != VERSION {
            return Err(bad(format!("version {} (this pledge reads version {VERSION})", manifest.version)));
        }
        for (path, entry) in &manifest.files {
            // Paths become file and object names: nothing may climb out of the site or alias another.
            let safe = !path.is_empty()
                && path != MANIFEST_FILE
                && !path.contains('\\')
                && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
            if !safe {
                return Err(bad(format!("unsafe path `{path}`")));
            }
            let hex = entry.sha256.len() == 64
                && entry.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex {
                return Err(bad(format!("`{path}`: sha256 is not 64 lower-case hex digits")));
            }
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serialises")
    }

    /// Writes `dir/_manifest.json` (for fixtures and for folders built by other tools).
    pub fn write(&self, dir: &Path) -> Result<(), DeployError> {
        let path = dir.join(MANIFEST_FILE);
        std::fs::write(&path, self.to_json()).map_err(|error| DeployError::io(path, error))
    }

    /// Checks that `dir` holds exactly the files listed, with their sizes and hashes. The error
    /// names the first mismatching file in path order.
    pub fn verify(&self, dir: &Path) -> Result<(), DeployError> {
        let found = Self::scan(dir)?;
        let mismatch = |file: &str, problem: String| DeployError::Mismatch {
            dir: dir.to_path_buf(),
            file: file.to_owned(),
            problem,
        };
        let mut expected = self.files.iter().peekable();
        let mut actual = found.files.iter().peekable();
        loop {
            match (expected.peek(), actual.peek()) {
                (None, None) => return Ok(()),
                (Some((path, _)), None) => return Err(mismatch(path, "listed but missing".into())),
                (None, Some((path, _))) => return Err(mismatch(path, "present but not listed".into())),
                (Some((want_path, want)), Some((have_path, have))) => {
                    if want_path < have_path {
                        return Err(mismatch(want_path, "listed but missing".into()));
                    }
                    if have_path < want_path {
                        return Err(mismatch(have_path, "present but not listed".into()));
                    }
                    if want.size != have.size {
                        return Err(mismatch(want_path, format!("{} bytes on disk, {} listed", have.size, want.size)));
                    }
                    if want.sha256 != have.sha256 {
                        return Err(mismatch(want_path, "its SHA-256 differs from the listed one".into()));
                    }
                    expected.next();
                    actual.next();
                }
            }
        }
    }
}

/// The SHA-256 and size of one file, read in chunks so large assets never sit in memory whole.
pub fn hash_file(path: &Path) -> Result<FileEntry, DeployError> {
    let mut file = File::open(path).map_err(|error| DeployError::io(path, error))?;
    let mut hasher = HashWriter(Sha256::new(), 0, None);
    std::io::copy(&mut file, &mut hasher).map_err(|error| DeployError::io(path, error))?;
    let HashWriter(hasher, size, _) = hasher;
    Ok(FileEntry { sha256: hex::encode(hasher.finalize()), size })
}

/// Copies `from` to `to` while hashing it, and flushes the copy to disk; the copy must be what
/// `expected` lists, so a build swapped in mid-deploy cannot leave a release of two builds.
pub(crate) fn copy_verified(from: &Path, to: &Path, expected: &FileEntry) -> Result<bool, DeployError> {
    let mut source = File::open(from).map_err(|error| DeployError::io(from, error))?;
    let destination = File::create(to).map_err(|error| DeployError::io(to, error))?;
    let mut writer = HashWriter(Sha256::new(), 0, Some(destination));
    std::io::copy(&mut source, &mut writer).map_err(|error| DeployError::io(to, error))?;
    let HashWriter(hasher, size, destination) = writer;
    let destination = destination.expect("the destination stays in the writer");
    destination.sync_all().map_err(|error| DeployError::io(to, error))?;
    Ok(size == expected.size && hex::encode(hasher.finalize()) == expected.sha256)
}

pub(crate) fn hash_bytes(bytes: &[u8]) -> FileEntry {
    FileEntry { sha256: hex::encode(Sha256::digest(bytes)), size: bytes.len() as u64 }
}

/// Hashes and counts what is written through it, passing it on to a file when there is one.
struct HashWriter(Sha256, u64, Option<File>);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = match &mut self.2 {
            Some(file) => file.write(buf)?,
            None => buf.len(),
        };
        self.0.update(&buf[..written]);
        self.1 += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.2.as_mut().map_or(Ok(()), Write::flush)
    }
}

fn relative_name(dir: &Path, path: &Path) -> Result<String, DeployError> {
    let relative = path.strip_prefix(dir).expect("walkdir yields paths under its root");
    let mut parts = Vec::new();
    for part in relative.components() {
        let Some(part) = part.as_os_str().to_str() else {
            let reason = "its name is not UTF-8".to_owned();
            let file = relative.to_string_lossy().into_owned();
            return Err(DeployError::Unsupported { dir: dir.to_path_buf(), file, reason });
        };
        parts.push(part);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_copy_reports_content_that_is_not_what_the_manifest_lists() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a.css");
        std::fs::write(&from, "body{}").unwrap();
        let listed = hash_bytes(b"body{}");
        let other = hash_bytes(b"body{color:red}");

        assert!(copy_verified(&from, &dir.path().join("b.css"), &listed).unwrap());
        assert!(!copy_verified(&from, &dir.path().join("c.css"), &other).unwrap());
        assert_eq!(std::fs::read(dir.path().join("b.css")).unwrap(), b"body{}");
    }
}
