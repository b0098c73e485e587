//! Post-process, compression: a `.gz` and a `.br` beside every text file, so nginx
//! (`gzip_static`, `brotli_static`) and CDNs that honour precompressed files serve them without
//! compressing on every request, at the best ratio each format offers. Brotli's densest
//! setting is slow (about 5 ms a page, most of a cold build), so a rebuild takes the twins of
//! every file whose bytes did not change from the previous build's output, by its manifest.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::BuildError;
use crate::render::{OutputFile, RenderedSite};
use crate::write::{MANIFEST_FILE, Manifest};

/// Extensions of files that compress well; images and fonts are compressed already.
const TEXT_EXTENSIONS: &[&str] =
    &["html", "htm", "css", "js", "mjs", "json", "xml", "txt", "svg", "map", "webmanifest", "atom", "rss", "csv"];

/// Below this a compressed body saves less than the request costs to negotiate.
const MIN_SIZE: usize = 256;

/// Brotli's densest setting; a build compresses once, so its slowness is paid once per file.
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW_BITS: u32 = 22;

/// A compressed twin: its output path and bytes.
type Variant = (String, Vec<u8>);

fn is_text(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    !name.starts_with('_')
        && name.rsplit_once('.').is_some_and(|(_, ext)| TEXT_EXTENSIONS.iter().any(|t| ext.eq_ignore_ascii_case(t)))
}

/// Adds `path.gz` and `path.br` for every text file they make smaller. Deterministic: gzip
/// headers carry no name or time, so the same input gives the same bytes, which is also why
/// the twins in `previous_output` of unchanged files can be taken as they are.
pub fn precompress(mut site: RenderedSite, previous_output: &Path) -> Result<RenderedSite, BuildError> {
    let previous = Previous::read(previous_output);
    let reused: Vec<(String, OutputFile)> = site
        .files
        .par_iter()
        .filter(|(path, _)| is_text(path))
        .filter_map(|(path, file)| previous.twins(path, file))
        .flatten()
        .collect();
    let done: HashSet<&str> =
        reused.iter().filter_map(|(twin, _)| twin.rsplit_once('.').map(|(path, _)| path)).collect();
    let variants: Vec<Result<Vec<Variant>, BuildError>> = site
        .files
        .par_iter()
        .filter(|(path, _)| is_text(path) && !done.contains(path.as_str()))
        .map(|(path, file)| {
            let bytes = match file {
                OutputFile::Bytes(bytes) => Cow::Borrowed(bytes.as_slice()),
                OutputFile::Copy(source) => Cow::Owned(fs::read(source).map_err(|e| BuildError::io(source, e))?),
            };
            if bytes.len() < MIN_SIZE {
                return Ok(Vec::new());
            }
            Ok([(format!("{path}.gz"), gzip(&bytes)), (format!("{path}.br"), brotli(&bytes))]
                .into_iter()
                .filter(|(_, compressed)| compressed.len() < bytes.len())
                .collect())
        })
        .collect();
    let variants = variants.into_iter().collect::<Result<Vec<_>, _>>()?;
    site.files.extend(reused);
    for (path, bytes) in variants.into_iter().flatten() {
        site.files.insert(path, OutputFile::Bytes(bytes));
    }
    Ok(site)
}

/// The previous build's output and its manifest, when there is one.
struct Previous {
    output: PathBuf,
    manifest: Option<Manifest>,
}

impl Previous {
    fn read(output: &Path) -> Self {
        let manifest = fs::read(output.join(MANIFEST_FILE)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Self { output: output.to_path_buf(), manifest }
    }

    /// The previous twins of `path`, copied from the old output, if its bytes are unchanged.
    /// A twin the manifest lacks was not smaller than its file then, and is not now.
    fn twins(&self, path: &str, file: &OutputFile) -> Option<Vec<(String, OutputFile)>> {
        let manifest = self.manifest.as_ref()?;
        let before = manifest.files.get(path)?;
        let bytes = match file {
            OutputFile::Bytes(bytes) => Cow::Borrowed(bytes.as_slice()),
            OutputFile::Copy(source) => Cow::Owned(fs::read(source).ok()?),
        };
        if before.size != bytes.len() as u64 || before.sha256 != hex::encode(Sha256::digest(&bytes)) {
            return None;
        }
        let mut twins = Vec::new();
        for suffix in [".gz", ".br"] {
            let twin = format!("{path}{suffix}");
            if manifest.files.contains_key(&twin) {
                let source = self.output.join(&twin);
                if !source.is_file() {
                    return None;
                }
                twins.push((twin, OutputFile::Copy(source)));
            }
        }
        Some(twins)
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    let mut writer = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, BROTLI_WINDOW_BITS);
    writer.write_all(bytes).expect("writing to memory");
    drop(writer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_files_are_compressed_and_rule_files_are_not() {
        assert!(is_text("index.html") && is_text("css/site.CSS") && is_text("feed.xml"));
        assert!(!is_text("logo.png") && !is_text("_headers") && !is_text("_headers.nginx") && !is_text("README"));
    }

    #[test]
    fn small_files_stay_alone_and_large_ones_get_both_encodings() {
        let mut site = RenderedSite::default();
        site.files.insert("tiny.css".into(), OutputFile::Bytes(b"a{}".to_vec()));
        site.files.insert("big.html".into(), OutputFile::Bytes("<p>gift</p>".repeat(100).into_bytes()));
        let site = precompress(site, Path::new("/nonexistent")).unwrap();
        let names: Vec<&str> = site.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["big.html", "big.html.br", "big.html.gz", "tiny.css"]);
    }

    #[test]
    fn a_rebuild_takes_the_twins_of_unchanged_files_from_the_previous_output() {
        let out = tempfile::tempdir().unwrap();
        let output = out.path().join("public");
        let site = |body: &str| {
            let mut site = RenderedSite::default();
            site.files.insert("same.html".into(), OutputFile::Bytes("<p>same</p>".repeat(100).into_bytes()));
            site.files.insert("changed.html".into(), OutputFile::Bytes(body.repeat(100).into_bytes()));
            site
        };
        let first = precompress(site("<p>one</p>"), &output).unwrap();
        crate::write::write(&first, &output).unwrap();
        let second = precompress(site("<p>two</p>"), &output).unwrap();
        assert_eq!(second.files["same.html.br"], OutputFile::Copy(output.join("same.html.br")));
        assert_eq!(second.files["same.html.gz"], OutputFile::Copy(output.join("same.html.gz")));
        assert!(matches!(second.files["changed.html.br"], OutputFile::Bytes(_)), "changed bytes are compressed anew");
        crate::write::write(&second, &output).unwrap();
        let reread = fs::read(output.join("same.html.br")).unwrap();
        assert_eq!(reread, brotli("<p>same</p>".repeat(100).as_bytes()), "the copied twin is whole");
    }
}
