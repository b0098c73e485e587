//! Post-process, compression: a `.gz` and a `.br` beside every text file, so nginx
//! (`gzip_static`, `brotli_static`) and CDNs that honour precompressed files serve them without
//! compressing on every request, at the best ratio each format offers.

use std::borrow::Cow;
use std::fs;
use std::io::Write as _;

use rayon::prelude::*;

use crate::BuildError;
use crate::render::{OutputFile, RenderedSite};

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
/// headers carry no name or time, so the same input gives the same bytes.
pub fn precompress(mut site: RenderedSite) -> Result<RenderedSite, BuildError> {
    let variants: Vec<Result<Vec<Variant>, BuildError>> = site
        .files
        .par_iter()
        .filter(|(path, _)| is_text(path))
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
    for variant in variants {
        for (path, bytes) in variant? {
            site.files.insert(path, OutputFile::Bytes(bytes));
        }
    }
    Ok(site)
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
        let site = precompress(site).unwrap();
        let names: Vec<&str> = site.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["big.html", "big.html.br", "big.html.gz", "tiny.css"]);
    }
}
