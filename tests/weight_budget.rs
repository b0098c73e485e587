//! Every page of the reference site, with the CSS and JavaScript it loads, fits in the first
//! 14 KB a browser receives (about ten TCP segments of the first round trip), compressed.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use generator::render::OutputFile;
use generator::{BuildOptions, SitePaths};

const BUDGET_BYTES: usize = 14 * 1024;

fn gzipped_size(bytes: &[u8]) -> usize {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

#[test]
fn every_page_with_its_css_and_js_fits_in_14_kb_compressed() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (site, _) = generator::render_site(&SitePaths::detect(&root), &BuildOptions::default()).unwrap();
    let bytes = |file: &OutputFile| match file {
        OutputFile::Bytes(bytes) => bytes.clone(),
        OutputFile::Copy(path) => std::fs::read(path).unwrap(),
    };
    let assets: Vec<(&String, usize)> = site
        .files
        .iter()
        .filter(|(path, _)| path.ends_with(".css") || path.ends_with(".js"))
        .map(|(path, file)| (path, gzipped_size(&bytes(file))))
        .collect();

    let mut pages = 0;
    for (path, file) in site.files.iter().filter(|(path, _)| path.ends_with(".html")) {
        let html = bytes(file);
        let text = String::from_utf8_lossy(&html);
        let loaded: usize =
            assets.iter().filter(|(asset, _)| text.contains(&format!("/{asset}\""))).map(|(_, size)| size).sum();
        let total = gzipped_size(&html) + loaded;
        assert!(total <= BUDGET_BYTES, "{path}: {total} bytes compressed with its CSS and JS, over {BUDGET_BYTES}");
        pages += 1;
    }
    assert!(pages >= 12, "all pages were checked ({pages})");
}
