//! Stage 5, write: the only code that writes to the output folder. Files go to a temporary folder
//! beside the output, which is swapped in at the end, so a failed build leaves the old site intact.

use std::fs;
use std::path::{Path, PathBuf};

use crate::BuildError;
use crate::render::{OutputFile, RenderedSite};

/// Writes the site and swaps it into `output`. Returns the number of files written.
pub fn write(site: &RenderedSite, output: &Path) -> Result<usize, BuildError> {
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| BuildError::io(parent, e))?;
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(parent)
        .map_err(|e| BuildError::io(parent, e))?;
    for (path, file) in &site.files {
        let target = staging.path().join(path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(|e| BuildError::io(dir, e))?;
        }
        match file {
            OutputFile::Bytes(bytes) => fs::write(&target, bytes).map(|_| ()),
            OutputFile::Copy(source) => fs::copy(source, &target).map(|_| ()),
        }
        .map_err(|e| BuildError::io(&target, e))?;
    }
    swap_in(staging.keep(), output)?;
    Ok(site.files.len())
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
