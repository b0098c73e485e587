//! Fixture output folders, shaped like what `pledge build` writes, with their manifest.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod moto;

use std::path::{Path, PathBuf};

use deploy::Manifest;
use tempfile::TempDir;

/// A built site in a temporary folder: pages, assets, precompressed copies, rules files.
pub struct Site {
    _dir: TempDir,
    pub path: PathBuf,
}

pub const FILES: &[(&str, &str)] = &[
    ("404.html", "<h1>Not found</h1>"),
    ("404.html.br", "br:<h1>Not found</h1>"),
    ("404.html.gz", "gz:<h1>Not found</h1>"),
    ("_headers", "/*\n  Cache-Control: public\n"),
    ("_headers.nginx", "map $uri $cache {}\n"),
    ("about/index.html", "<link rel=stylesheet href=/style.css><h1>About</h1>"),
    ("about/index.html.br", "br:about"),
    ("about/index.html.gz", "gz:about"),
    ("app.js", "console.log('totals')"),
    ("app.js.br", "br:app"),
    ("app.js.gz", "gz:app"),
    ("images/logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ("index.html", "<link rel=stylesheet href=/style.css><h1>Home</h1>"),
    ("index.html.br", "br:home"),
    ("index.html.gz", "gz:home"),
    ("style.css", "body{color:#222}"),
    ("style.css.br", "br:style"),
    ("style.css.gz", "gz:style"),
];

pub fn is_page(path: &str) -> bool {
    path.contains(".html")
}

impl Site {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("public");
        let site = Self { _dir: dir, path };
        for (file, content) in FILES {
            site.write(file, content);
        }
        site.seal();
        site
    }

    /// Writes one file without updating the manifest (call `seal` after).
    pub fn write(&self, file: &str, content: &str) {
        let path = self.path.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.path.join(file)).unwrap();
    }

    /// Rewrites the manifest from the files, as a build would.
    pub fn seal(&self) {
        Manifest::scan(&self.path).unwrap().write(&self.path).unwrap();
    }

    /// Changes a page and its precompressed copies, as a content edit would.
    pub fn edit_page(&self, page: &str, content: &str) {
        self.write(page, content);
        self.write(&format!("{page}.gz"), &format!("gz:{content}"));
        self.write(&format!("{page}.br"), &format!("br:{content}"));
        self.seal();
    }
}

/// Every file under `dir` with its content, links followed, for before/after comparisons.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = entry.unwrap();
        let relative = entry.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        let content = if entry.file_type().is_file() { std::fs::read(entry.path()).unwrap() } else { Vec::new() };
        files.push((relative, content));
    }
    files
}
