//! Stage 5, write: the only code that writes to the output folder. Files go to a temporary folder
//! beside the output, which is swapped in at the end, so a failed build leaves the old site intact.
//! The folder's manifest (`_manifest.json`: path → SHA-256 and size) is written with it, so a
//! deploy can send only what changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::BuildError;
use crate::render::{OutputFile, RenderedSite};

pub const MANIFEST_FILE: &str = "_manifest.json";

/// Every file of a build but the manifest itself, keyed by its `/`-separated relative path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub files: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub sha256: String,
    pub size: u64,
}

impl ManifestEntry {
    fn of(bytes: &[u8]) -> Self {
        Self { sha256: hex::encode(Sha256::digest(bytes)), size: bytes.len() as u64 }
    }
}

/// Writes the site and its manifest and swaps them into `output`. Returns the manifest.
pub fn write(site: &RenderedSite, output: &Path) -> Result<Manifest, BuildError> {
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| BuildError::io(parent, e))?;
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(parent)
        .map_err(|e| BuildError::io(parent, e))?;
    let mut manifest = Manifest { version: 1, files: BTreeMap::new() };
    for (path, file) in &site.files {
        let target = staging.path().join(path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
        }
        manifest.files.insert(path.clone(), write_file(file, &target)?);
    }
    write_manifest(&manifest, staging.path())?;
    swap_in(staging.keep(), output)?;
    Ok(manifest)
}

/// Writes into the folder `output` that `manifest` describes (the dev server's, after an edit)
/// the files of `site` whose contents differ, each swapped in whole so no request reads half a
/// page, and the manifest too when anything changed. Returns how many files were written.
pub fn update(site: &RenderedSite, output: &Path, manifest: &mut Manifest) -> Result<usize, BuildError> {
    let mut written = 0;
    for (path, file) in &site.files {
        let OutputFile::Bytes(bytes) = file else { continue };
        let entry = ManifestEntry::of(bytes);
        if manifest.files.get(path) == Some(&entry) {
            continue;
        }
        let target = output.join(path);
        let dir = target.parent().unwrap_or(output);
        fs::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staged = dir.join(format!(".{name}.new"));
        fs::write(&staged, bytes).map_err(|e| BuildError::io(&staged, e))?;
        fs::rename(&staged, &target).map_err(|e| BuildError::io(&target, e))?;
        manifest.files.insert(path.clone(), entry);
        written += 1;
    }
    if written > 0 {
        write_manifest(manifest, output)?;
        written += 1;
    }
    Ok(written)
}

fn write_manifest(manifest: &Manifest, folder: &Path) -> Result<(), BuildError> {
    let listing = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let target = folder.join(MANIFEST_FILE);
    fs::write(&target, listing).map_err(|e| BuildError::io(&target, e))
}

/// A static file is read whole rather than copied, so what is written is what is hashed.
fn write_file(file: &OutputFile, target: &Path) -> Result<ManifestEntry, BuildError> {
    let read;
    let bytes = match file {
        OutputFile::Bytes(bytes) => bytes,
        OutputFile::Copy(source) => {
            read = fs::read(source).map_err(|e| BuildError::io(source, e))?;
            &read
        }
    };
    fs::write(target, bytes).map_err(|e| BuildError::io(target, e))?;
    Ok(ManifestEntry::of(bytes))
}

/// Moves the old output aside (into a uniquely named folder, so a leftover from an interrupted
/// build never blocks the next), renames the new one into place, then deletes the old one.
/// Deleting is housekeeping: once the new site is in place, failing to delete is only a warning.
fn swap_in(staged: PathBuf, output: &Path) -> Result<(), BuildError> {
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let retired =
        tempfile::Builder::new().prefix(".retired-").tempdir_in(parent).map_err(|e| BuildError::io(parent, e))?;
    let old = retired.path().join("site");
    let had_old = output.exists();
    if had_old {
        fs::rename(output, &old).map_err(|e| BuildError::io(output, e))?;
    }
    if let Err(e) = fs::rename(&staged, output) {
        if had_old {
            let _ = fs::rename(&old, output);
        }
        return Err(BuildError::io(output, e));
    }
    if let Err(error) = retired.close() {
        tracing::warn!(%error, "could not delete the previous build");
    }
    Ok(())
}
