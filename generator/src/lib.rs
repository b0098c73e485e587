//! The site generator: Zola-format content and Tera themes in, CDN-ready static files out.
//!
//! A pipeline of typed stages, each a function from one value to the next, so the compiler
//! enforces their order: [`load`] → [`resolve`] → [`render`] → [`optimize`] → [`postprocess`]
//! (and [`precompress`]) → [`write`].

pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod load;
pub mod optimize;
mod paths;
pub mod postprocess;
pub mod precompress;
pub mod problem;
pub mod render;
pub mod resolve;
pub mod sass;
mod slugs;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use paths::{SitePaths, WatchTarget};
pub use problem::{Problem, Problems};

/// A campaign's progress when the site is built, so pages are right without JavaScript.
/// The generator never talks to the database: whoever builds passes this in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignProgress {
    pub raised_minor: i64,
    pub donors: i64,
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Replaces `base_url` from the config (the dev server uses its own address).
    pub base_url: Option<String>,
    pub include_drafts: bool,
    /// Keyed by campaign slug; campaigns missing here show zero.
    pub progress: BTreeMap<String, CampaignProgress>,
    /// Adds the dev server's reload script to every page.
    pub live_reload: bool,
    /// Writes `.gz` and `.br` beside every text file (production builds; the dev server skips
    /// it to rebuild faster).
    pub precompress: bool,
    /// Minifies HTML, CSS and JS (also when the site's `minify_html` asks, for HTML and all).
    pub minify: bool,
    /// Gives assets content-hashed names and rewrites the references to them.
    pub fingerprint: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    pub pages: usize,
    pub sections: usize,
    pub files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Content(Problems),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl BuildError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}

impl From<Problems> for BuildError {
    fn from(problems: Problems) -> Self {
        Self::Content(problems)
    }
}

/// Runs every stage but `write`: what `pledge check` does.
pub fn render_site(
    paths: &SitePaths,
    options: &BuildOptions,
) -> Result<(render::RenderedSite, BuildReport), BuildError> {
    let started = Instant::now();
    let mut loaded = load::load(paths)?;
    if let Some(base_url) = &options.base_url {
        loaded.config.base_url = base_url.trim_end_matches('/').to_string();
    }
    tracing::debug!(files = loaded.content.len(), elapsed = ?started.elapsed(), "loaded");
    let config = loaded.config.clone();

    let started = Instant::now();
    let resolved = resolve::resolve(loaded, options.include_drafts)?;
    let (pages, sections) = (resolved.pages.len(), resolved.sections.len());
    tracing::debug!(pages, sections, elapsed = ?started.elapsed(), "resolved");

    let started = Instant::now();
    let rendered = render::render(resolved, &options.progress)?;
    tracing::debug!(files = rendered.files.len(), elapsed = ?started.elapsed(), "rendered");

    let started = Instant::now();
    let optimize =
        optimize::Optimize { minify: options.minify || config.minify_html, fingerprint: options.fingerprint };
    let optimized = optimize::optimize(rendered, &config.base_url, optimize)?;
    tracing::debug!(?optimize, elapsed = ?started.elapsed(), "optimised");

    let mut processed = postprocess::postprocess(optimized, &config, options.live_reload);
    if options.precompress {
        let started = Instant::now();
        processed = precompress::precompress(processed, &paths.output)?;
        tracing::debug!(files = processed.files.len(), elapsed = ?started.elapsed(), "precompressed");
    }
    let files = processed.files.len();
    Ok((processed, BuildReport { pages, sections, files }))
}

/// The whole pipeline: renders the site and swaps it into `paths.output`.
pub fn build(paths: &SitePaths, options: &BuildOptions) -> Result<BuildReport, BuildError> {
    let (site, report) = render_site(paths, options)?;
    let started = Instant::now();
    write::write(&site, &paths.output)?;
    tracing::debug!(files = report.files, elapsed = ?started.elapsed(), output = %paths.output.display(), "written");
    Ok(report)
}
