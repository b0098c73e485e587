//! Stage 3, render: Markdown to HTML, then every page, section pager, taxonomy page, redirect
//! and the 404 page through Tera, in parallel. Pure: the output is a map from output path to
//! bytes, held in memory.

mod arguments;
mod bodies;
mod feeds;
mod functions;
mod jobs;
pub(crate) mod markdown;
mod memory;
mod others_read;
mod reads;
mod search;
pub(crate) mod shortcodes;
pub(crate) mod template_errors;
mod usage;
mod views;
pub(crate) mod zola_functions;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;
use tera::Tera;

use jobs::{Job, JobFile, Renderer, jobs, sitemap_entry};
pub use markdown::markdown_options;
pub use memory::RenderMemory;
pub(crate) use reads::Content;
use views::{Bodies, CampaignView, RenderedBody, Views};

use crate::CampaignProgress;
use crate::config::SiteConfig;
use crate::problem::{Problem, Problems};
use crate::resolve::ResolvedSite;

/// The site as it will be written: output path (`/`-separated, relative) → contents.
#[derive(Debug, Default)]
pub struct RenderedSite {
    pub files: BTreeMap<String, OutputFile>,
    /// The pages a search engine should know, in render order.
    pub sitemap: Vec<SitemapEntry>,
    /// Site paths that moved (aliases, `redirect_to`, pager 1) and where they went, for hosts
    /// that answer redirects themselves (`_redirects`); each also has a page that redirects.
    pub redirects: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapEntry {
    pub permalink: String,
    /// `updated`, else `date`, as the page gives it.
    pub updated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFile {
    Bytes(Vec<u8>),
    /// A static file, copied at write time instead of being held in memory.
    Copy(PathBuf),
}

pub fn render(site: ResolvedSite, progress: &BTreeMap<String, CampaignProgress>) -> Result<RenderedSite, Problems> {
    Ok(render_all(site, progress, false)?.0)
}

/// A full render that also keeps what [`RenderMemory::update`] needs to re-render after an
/// edit: the dev server's first build.
pub fn render_remembering(
    site: ResolvedSite,
    progress: &BTreeMap<String, CampaignProgress>,
) -> Result<(RenderedSite, RenderMemory), Problems> {
    match render_all(site, progress, true)? {
        (rendered, Some(memory)) => Ok((rendered, memory)),
        (_, None) => unreachable!("render_all keeps its memory when asked to"),
    }
}

/// Everything a render needs beyond the site, made once per render.
struct Shared {
    config: Arc<SiteConfig>,
    /// The `config` value of each language.
    config_values: HashMap<String, Value>,
    /// Tera with the functions that need no rendered content, which bodies can call too.
    templates: Tera,
    resized_images: zola_functions::ResizedImages,
    highlighter: Option<Arc<markdown::highlight::Highlighter>>,
}

impl Shared {
    fn new(site: &ResolvedSite, highlighter: Option<Arc<markdown::highlight::Highlighter>>) -> Result<Self, Problems> {
        let highlighter = match (highlighter, &site.config.markdown.highlighting) {
            (Some(highlighter), _) => Some(highlighter),
            (None, Some(highlighting)) => Some(
                markdown::highlight::Highlighter::for_site(highlighting, site.paths.root())
                    .map_err(|message| Problems::sorted(vec![Problem::in_file(&site.paths.config, message)]))?,
            ),
            (None, None) => None,
        };
        let config = Arc::new(site.config.clone());
        let internal_links = Arc::new(site.internal_links.clone());
        let mut templates = site.templates.clone();
        let resized_images = register_site_functions(&mut templates, site, &config, &internal_links, &highlighter);
        let config_values =
            config.all_languages().into_iter().map(|lang| (lang.to_string(), config.template_value(lang))).collect();
        Ok(Self { config, config_values, templates, resized_images, highlighter })
    }

    /// Markdown to HTML for each of `contents`, in parallel.
    fn bodies(&self, site: &ResolvedSite, contents: &[Content]) -> Vec<Result<RenderedBody, Problem>> {
        let renderer = bodies::BodyRenderer {
            config: &self.config,
            config_values: &self.config_values,
            internal_links: &site.internal_links,
            tera: &self.templates,
            template_files: &site.template_files,
            shortcodes: shortcodes::Shortcodes::from_tera(&self.templates).with_files(site.template_files.clone()),
            highlighter: self.highlighter.clone(),
        };
        contents
            .par_iter()
            .map(|&content| match content {
                Content::Page(i) => {
                    let page = &site.pages[i];
                    let anchors =
                        page.section.and_then(|s| site.sections[s].front_matter.insert_anchor_links.as_deref());
                    renderer.render(&page.placement, "page", page.front_matter.title.as_deref(), anchors)
                }
                Content::Section(i) => {
                    let section = &site.sections[i];
                    let anchors = section.front_matter.insert_anchor_links.as_deref();
                    renderer.render(&section.placement, "section", section.front_matter.title.as_deref(), anchors)
                }
            })
            .collect()
    }

    /// Renders `jobs` through their templates, in parallel, with the functions that read
    /// content; with `watch`, also what each one read.
    fn render_jobs(
        &self,
        site: &Arc<ResolvedSite>,
        views: &Arc<Views>,
        feeds: &[feeds::Feed],
        progress: &BTreeMap<String, CampaignProgress>,
        jobs: &[&Job],
        watch: bool,
    ) -> Result<Vec<(JobFile, Vec<Content>)>, Problems> {
        let mut templates = self.templates.clone();
        register_content_functions(&mut templates, site, views, progress);
        let mut problems = Vec::new();
        for (name, builtin) in [("atom.xml", feeds::BUILTIN_ATOM), ("rss.xml", feeds::BUILTIN_RSS)] {
            if templates.get_template(name).is_err()
                && let Err(e) = templates.add_raw_template(name, builtin)
            {
                problems.push(Problem::in_file(name, error_chain(&e)));
            }
        }
        let renderer = Renderer::new(site, views, &templates, &self.config, &self.config_values, feeds);
        // What each template may read of other pages, so each render gets only that of them.
        let mut shown: HashMap<(String, Option<&str>), Option<views::Fields>> = HashMap::new();
        let keys: Vec<(String, Option<&str>)> =
            jobs.iter().map(|job| (job.template(site, &templates, feeds), job.own().map(|(_, name)| name))).collect();
        for key in &keys {
            shown.entry(key.clone()).or_insert_with_key(|(template, own)| {
                match others_read::others_read(&templates, template, *own) {
                    others_read::OthersRead::Anything => None,
                    others_read::OthersRead::Fields(fields) => Some(Arc::new(fields)),
                }
            });
        }
        let results: Vec<(Result<JobFile, Problem>, Vec<Content>)> = jobs
            .par_iter()
            .zip(&keys)
            .map(|(job, key)| {
                views::showing(shown[key].clone(), || {
                    if watch { reads::watch(|| renderer.render(job)) } else { (renderer.render(job), Vec::new()) }
                })
            })
            .collect();
        let mut rendered = Vec::with_capacity(results.len());
        for (result, read) in results {
            match result {
                Ok(file) => rendered.push((file, read)),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() { Ok(rendered) } else { Err(Problems::sorted(problems)) }
    }

    fn take_resized_images(&self) -> impl Iterator<Item = (String, OutputFile)> {
        let resized =
            std::mem::take(&mut *self.resized_images.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        resized.into_iter().map(|(path, image)| (path, OutputFile::Bytes(image)))
    }
}

fn render_all(
    mut site: ResolvedSite,
    progress: &BTreeMap<String, CampaignProgress>,
    remember: bool,
) -> Result<(RenderedSite, Option<RenderMemory>), Problems> {
    let shared = Shared::new(&site, None)?;
    let contents: Vec<Content> =
        (0..site.pages.len()).map(Content::Page).chain((0..site.sections.len()).map(Content::Section)).collect();
    let mut problems = Vec::new();
    let mut rendered_bodies = shared.bodies(&site, &contents).into_iter().map(|r| {
        r.unwrap_or_else(|problem| {
            problems.push(problem);
            RenderedBody::default()
        })
    });
    let pages = rendered_bodies.by_ref().take(site.pages.len()).collect();
    let bodies = Bodies { pages, sections: rendered_bodies.collect() };
    if !problems.is_empty() {
        return Err(Problems::sorted(problems));
    }
    if !remember {
        // Nothing reads the Markdown sources again: on a big site they are tens of megabytes
        // the pages would otherwise render next to.
        let placements = site.pages.iter_mut().map(|p| &mut p.placement);
        for placement in placements.chain(site.sections.iter_mut().map(|s| &mut s.placement)) {
            placement.body = String::new();
        }
    }
    let search_indexes =
        search::indexes(&site, &bodies.pages, &bodies.sections).map_err(|p| Problems::sorted(vec![p]))?;
    let views = Arc::new(Views::new(&site, &bodies));
    let bodies = remember.then_some(bodies);

    let sass = compile_sass(&site);
    let site = Arc::new(site);
    let feeds = feeds::feeds(&site);
    let mut jobs = jobs(&site);
    jobs.extend((0..feeds.len()).map(Job::Feed));
    let all_jobs: Vec<&Job> = jobs.iter().collect();
    let results = shared.render_jobs(&site, &views, &feeds, progress, &all_jobs, remember);
    let mut files = BTreeMap::new();
    match sass {
        Ok(compiled) => files.extend(compiled.into_iter().map(|(path, css)| (path, OutputFile::Bytes(css)))),
        Err(sass_problems) => problems.extend(sass_problems),
    }
    let (outputs, reads): (Vec<_>, Vec<_>) = match results {
        Ok(results) => results.into_iter().unzip(),
        Err(job_problems) => {
            problems.extend(job_problems.0);
            (Vec::new(), Vec::new())
        }
    };
    if !problems.is_empty() {
        return Err(Problems::sorted(problems));
    }
    files.extend(outputs.into_iter().flatten());
    files.extend(search_indexes.into_iter().map(|(path, index)| (path, OutputFile::Bytes(index))));
    files.extend(shared.take_resized_images());
    // `style = "class"` colours come from these sheets, at the site's root. (Zola writes them
    // into the site's `static/`; a build here never writes into its sources.)
    let sheets = shared.highlighter.iter().flat_map(|highlighter| highlighter.stylesheets());
    files.extend(sheets.map(|(name, css)| (name.to_owned(), OutputFile::Bytes(css.into_bytes()))));
    for file in site.static_files.iter().chain(&site.assets) {
        files.entry(file.output.clone()).or_insert_with(|| OutputFile::Copy(file.source.clone()));
    }
    let sitemap = jobs.iter().filter_map(|job| sitemap_entry(job, &site)).collect();
    let redirects = jobs
        .iter()
        .filter_map(|job| match job {
            Job::Redirect { output, to, .. } => Some((output.clone(), to.clone())),
            _ => None,
        })
        .collect();
    let rendered = RenderedSite { files, sitemap, redirects };
    let memory = match bodies {
        Some(bodies) => Some(RenderMemory {
            site,
            views,
            bodies,
            feeds,
            highlighter: shared.highlighter,
            progress: progress.clone(),
            jobs: jobs.into_iter().zip(reads).collect(),
        }),
        None => None,
    };
    Ok((rendered, memory))
}

/// Zola's functions that work from the config, the link table and the files of the site.
fn register_site_functions(
    templates: &mut Tera,
    site: &ResolvedSite,
    config: &Arc<SiteConfig>,
    internal_links: &Arc<HashMap<String, String>>,
    highlighter: &Option<Arc<markdown::highlight::Highlighter>>,
) -> zola_functions::ResizedImages {
    let paths = &site.paths;
    let static_dirs: Vec<PathBuf> = std::iter::once(paths.static_files.clone())
        .chain(site.config.theme.iter().map(|theme| paths.themes.join(theme).join("static")))
        .collect();
    let files = Arc::new(zola_functions::SiteFiles::new(paths.root(), &paths.content, &static_dirs));
    templates.register_function(
        "get_url",
        functions::GetUrl {
            config: config.clone(),
            internal_links: internal_links.clone(),
            hashes: zola_functions::FileHashes::new(files.clone()),
        },
    );
    templates.register_function("trans", functions::Trans { config: config.clone() });
    templates.register_filter(
        "markdown",
        functions::MarkdownFilter {
            config: config.clone(),
            internal_links: internal_links.clone(),
            highlighter: highlighter.clone(),
        },
    );
    templates.register_filter("num_format", functions::NumFormat);
    templates.register_filter("digits", functions::Digits);
    zola_functions::register(templates, files, &config.base_url)
}

/// The functions that read pages, sections and taxonomies, once their content is rendered.
fn register_content_functions(
    templates: &mut Tera,
    site: &Arc<ResolvedSite>,
    views: &Arc<Views>,
    progress: &BTreeMap<String, CampaignProgress>,
) {
    let campaign_views: BTreeMap<String, CampaignView> = site
        .campaigns
        .iter()
        .map(|c| (c.slug.clone(), CampaignView::new(c, progress.get(&c.slug).copied().unwrap_or_default())))
        .collect();
    templates.register_function("get_page", functions::GetPage::new(site.clone(), views.clone()));
    templates.register_function("get_section", functions::GetSection::new(site.clone(), views.clone()));
    templates.register_function("get_taxonomy_url", functions::GetTaxonomyUrl { site: site.clone() });
    templates.register_function("get_taxonomy", functions::GetTaxonomy { site: site.clone(), views: views.clone() });
    templates.register_function(
        "get_taxonomy_term",
        functions::GetTaxonomyTerm { site: site.clone(), views: views.clone() },
    );
    templates.register_function("get_campaign", functions::GetCampaign { campaigns: Arc::new(campaign_views) });
}

/// The theme's Sass always, the site's with `compile_sass = true`, as Zola does; site files
/// win over the theme's at the same path.
fn compile_sass(site: &ResolvedSite) -> Result<Vec<(String, Vec<u8>)>, Vec<Problem>> {
    let paths = &site.paths;
    let mut dirs = Vec::new();
    if site.config.compile_sass {
        dirs.push(paths.root().join("sass"));
    }
    dirs.extend(site.config.theme.iter().map(|theme| paths.themes.join(theme).join("sass")));
    crate::sass::compile_all(&dirs)
}

/// Tera hides the useful part of an error in its sources; this joins the whole chain.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
