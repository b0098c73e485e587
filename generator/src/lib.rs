//! The site generator: Zola-format content and Tera themes in, CDN-ready static files out.
//!
//! A pipeline of typed stages, each a function from one value to the next, so the compiler
//! enforces their order: [`load`] → [`resolve`] → [`render`] → [`optimize`] → [`postprocess`]
//! (and [`precompress`]) → [`write`].

pub mod check;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod live;
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
use std::time::{Duration, Instant};

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
    /// Told each stage as it starts, with how many things it has to do, so a long build can
    /// show where it is (`pledge build` prints it on a terminal).
    pub on_stage: Option<fn(Stage, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    pub pages: usize,
    pub sections: usize,
    pub files: usize,
    /// How long each stage took, in pipeline order.
    pub stages: Vec<(Stage, Duration)>,
}

/// The pipeline's stages, for progress and the timing summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Load,
    Resolve,
    Render,
    Optimize,
    Postprocess,
    Precompress,
    Write,
}

impl Stage {
    /// What the stage does, as a progress line says it, given the stage's amount of work.
    pub fn doing(self, work: usize) -> String {
        match self {
            Stage::Load => "loading the site".into(),
            Stage::Resolve => format!("resolving {work} content files"),
            Stage::Render => format!("rendering {work} pages and sections"),
            Stage::Optimize => format!("optimising {work} files"),
            Stage::Postprocess => "adding the sitemap, robots.txt and cache rules".into(),
            Stage::Precompress => format!("compressing {work} files"),
            Stage::Write => format!("writing {work} files"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Load => "load",
            Stage::Resolve => "resolve",
            Stage::Render => "render",
            Stage::Optimize => "optimise",
            Stage::Postprocess => "postprocess",
            Stage::Precompress => "precompress",
            Stage::Write => "write",
        }
    }
}

/// Runs stages one after another, telling `on_stage` and keeping each one's time.
struct StageClock {
    on_stage: Option<fn(Stage, usize)>,
    timings: Vec<(Stage, Duration)>,
}

impl StageClock {
    fn run<T>(&mut self, stage: Stage, work: usize, run: impl FnOnce() -> T) -> T {
        if let Some(on_stage) = self.on_stage {
            on_stage(stage, work);
        }
        let started = Instant::now();
        let result = run();
        let elapsed = started.elapsed();
        tracing::debug!(stage = stage.name(), work, ?elapsed, "stage done");
        self.timings.push((stage, elapsed));
        result
    }
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
    /// The build has failed: reading the offending lines for the report costs nothing that
    /// matters now.
    fn from(problems: Problems) -> Self {
        Self::Content(problems.with_excerpts())
    }
}

/// Runs every stage but `write`: what `pledge check` does.
pub fn render_site(
    paths: &SitePaths,
    options: &BuildOptions,
) -> Result<(render::RenderedSite, BuildReport), BuildError> {
    let (site, report, _) = run_stages(paths, options, false)?;
    Ok((site, report))
}

/// Every stage but `write`; with `remember`, also what a later [`live::LiveBuild`] update
/// needs, with the config the site was built with.
fn run_stages(
    paths: &SitePaths,
    options: &BuildOptions,
    remember: bool,
) -> Result<(render::RenderedSite, BuildReport, Option<live::Remembered>), BuildError> {
    let mut clock = StageClock { on_stage: options.on_stage, timings: Vec::new() };
    let mut loaded = clock.run(Stage::Load, 0, || load::load(paths))?;
    if let Some(base_url) = &options.base_url {
        loaded.config.base_url = base_url.trim_end_matches('/').to_string();
    }
    let config = loaded.config.clone();

    let files = loaded.content.len();
    let resolved = clock.run(Stage::Resolve, files, || resolve::resolve(loaded, options.include_drafts))?;
    let (pages, sections) = (resolved.pages.len(), resolved.sections.len());

    let (rendered, memory) = clock.run(Stage::Render, pages + sections, || {
        if remember {
            render::render_remembering(resolved, &options.progress).map(|(site, memory)| (site, Some(memory)))
        } else {
            render::render(resolved, &options.progress).map(|site| (site, None))
        }
    })?;

    let optimize = optimize_options(options, &config);
    let files = rendered.files.len();
    let optimized = clock.run(Stage::Optimize, files, || optimize::optimize(rendered, &config.base_url, optimize))?;

    let files = optimized.files.len();
    let mut processed =
        clock.run(Stage::Postprocess, files, || postprocess::postprocess(optimized, &config, options.live_reload));
    if options.precompress {
        let files = processed.files.len();
        processed = clock.run(Stage::Precompress, files, || precompress::precompress(processed, &paths.output))?;
    }
    let files = processed.files.len();
    let report = BuildReport { pages, sections, files, stages: clock.timings };
    Ok((processed, report, memory.map(|render| live::Remembered { render, config })))
}

fn optimize_options(options: &BuildOptions, config: &config::SiteConfig) -> optimize::Optimize {
    optimize::Optimize { minify: options.minify || config.minify_html, fingerprint: options.fingerprint }
}

/// The whole pipeline: renders the site and swaps it into `paths.output`.
pub fn build(paths: &SitePaths, options: &BuildOptions) -> Result<BuildReport, BuildError> {
    let (site, mut report) = render_site(paths, options)?;
    let mut clock = StageClock { on_stage: options.on_stage, timings: Vec::new() };
    clock.run(Stage::Write, report.files, || write::write(&site, &paths.output))?;
    report.stages.extend(clock.timings);
    Ok(report)
}
