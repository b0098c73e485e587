//! `pledge serve`'s builds. The first is a full build that remembers its render; after it, an
//! edit to the bodies of pages or sections re-renders those bodies and only the files that
//! showed them, and writes only the files whose bytes changed. Anything else (a template, the
//! config, a static file, a front matter, a new or deleted file) is a full build again, as is
//! the change after a failed build.

use std::path::PathBuf;
use std::time::Instant;

use crate::config::SiteConfig;
use crate::render::RenderMemory;
use crate::write::Manifest;
use crate::{BuildError, BuildOptions, BuildReport, SitePaths, Stage, load, optimize, postprocess, write};

pub struct LiveBuild {
    paths: SitePaths,
    memory: Option<Memory>,
}

/// A full build's render, and the config it was made with.
pub(crate) struct Remembered {
    pub render: RenderMemory,
    pub config: SiteConfig,
}

struct Memory {
    render: RenderMemory,
    config: SiteConfig,
    manifest: Manifest,
    /// What the remembered build was made with; other options need a full build.
    base_url: Option<String>,
    include_drafts: bool,
    live_reload: bool,
    minify: bool,
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    Full(BuildReport),
    /// Only what the edits touched: `rendered` files rendered again, `written` of them (and the
    /// manifest) written because their bytes changed.
    Edits {
        rendered: usize,
        written: usize,
    },
}

impl LiveBuild {
    pub fn new(paths: SitePaths) -> Self {
        Self { paths, memory: None }
    }

    /// Brings the output up to date after `changed` files changed (all of them, or a full build
    /// happens anyway: pass none for the first build).
    pub fn rebuild(&mut self, changed: &[PathBuf], options: &BuildOptions) -> Result<Rebuilt, BuildError> {
        if let Some(memory) = self.memory.as_mut().filter(|memory| memory.serves(options))
            && !changed.is_empty()
        {
            match memory.update(&self.paths, changed, options) {
                Ok(Some(rebuilt)) => return Ok(rebuilt),
                Ok(None) => {}
                Err(error) => {
                    self.memory = None;
                    return Err(error);
                }
            }
        }
        self.memory = None;
        let (site, mut report, remembered) = crate::run_stages(&self.paths, options, remembers(options))?;
        let started = Instant::now();
        let manifest = write::write(&site, &self.paths.output)?;
        report.stages.push((Stage::Write, started.elapsed()));
        self.memory = remembered.map(|Remembered { render, config }| Memory {
            render,
            config,
            manifest,
            base_url: options.base_url.clone(),
            include_drafts: options.include_drafts,
            live_reload: options.live_reload,
            minify: options.minify,
        });
        Ok(Rebuilt::Full(report))
    }
}

/// Hashed names and compressed twins are for production builds, which are always full.
fn remembers(options: &BuildOptions) -> bool {
    !options.fingerprint && !options.precompress
}

impl Memory {
    fn serves(&self, options: &BuildOptions) -> bool {
        remembers(options)
            && options.base_url == self.base_url
            && options.include_drafts == self.include_drafts
            && options.live_reload == self.live_reload
            && options.minify == self.minify
    }

    /// `None` when the change needs a full build.
    fn update(
        &mut self,
        paths: &SitePaths,
        changed: &[PathBuf],
        options: &BuildOptions,
    ) -> Result<Option<Rebuilt>, BuildError> {
        let mut edits = Vec::with_capacity(changed.len());
        for file in changed {
            // An editor's temporary file among the content, come and gone, changes nothing;
            // any other file gone (a template, a data file…) needs a full build.
            if !file.exists() && file.starts_with(&paths.content) && !self.render.knows(file) {
                continue;
            }
            match load::content_file(paths, &self.config, file)
                .map_err(|problem| crate::Problems::sorted(vec![problem]))?
            {
                Some(edit) => edits.push(edit),
                None => return Ok(None),
            }
        }
        if edits.is_empty() {
            return Ok(Some(Rebuilt::Edits { rendered: 0, written: 0 }));
        }
        let Some(rendered) = self.render.update(edits, &options.progress)? else { return Ok(None) };
        let count = rendered.files.len();
        let mut site =
            optimize::optimize(rendered, &self.config.base_url, crate::optimize_options(options, &self.config))?;
        if options.live_reload {
            postprocess::inject_live_reload(&mut site);
        }
        let written = write::update(&site, &paths.output, &mut self.manifest)?;
        Ok(Some(Rebuilt::Edits { rendered: count, written }))
    }
}
