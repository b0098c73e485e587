//! Stage 3, render: Markdown to HTML, then each page and section through its Tera template, in
//! parallel. Pure: the output is a map from output path to bytes, held in memory.

mod functions;
pub(crate) mod markdown;
pub(crate) mod shortcodes;
mod views;
pub(crate) mod zola_functions;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use tera::{Context, Tera};

pub use markdown::markdown_options;
use views::{CampaignView, PageView, SectionView};

use crate::CampaignProgress;
use crate::config::SiteConfig;
use crate::problem::{Problem, Problems};
use crate::resolve::{Placement, ResolvedSite};

/// The site as it will be written: output path (`/`-separated, relative) → contents.
#[derive(Debug, Default)]
pub struct RenderedSite {
    pub files: BTreeMap<String, OutputFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFile {
    Bytes(Vec<u8>),
    /// A static file, copied at write time instead of being held in memory.
    Copy(PathBuf),
}

pub fn render(site: ResolvedSite, progress: &BTreeMap<String, CampaignProgress>) -> Result<RenderedSite, Problems> {
    let ResolvedSite { config, campaigns, mut templates, static_files, sections, pages, internal_links } = site;
    let config = Arc::new(config);
    let internal_links = Arc::new(internal_links);

    let page_html: Vec<String> =
        pages.par_iter().map(|p| markdown::to_html(&p.placement.body, &internal_links, &config.base_url)).collect();
    let section_html: Vec<String> =
        sections.par_iter().map(|s| markdown::to_html(&s.placement.body, &internal_links, &config.base_url)).collect();

    let page_views: Vec<PageView> =
        pages.iter().zip(page_html).map(|(page, content)| PageView::new(page, &pages, content)).collect();
    let section_views: Vec<SectionView> = sections
        .iter()
        .zip(section_html)
        .map(|(section, content)| SectionView::new(section, &sections, &page_views, content))
        .collect();

    let campaign_views: BTreeMap<String, CampaignView> = campaigns
        .iter()
        .map(|c| (c.slug.clone(), CampaignView::new(c, progress.get(&c.slug).copied().unwrap_or_default())))
        .collect();
    let pages_by_file: BTreeMap<String, PageView> =
        page_views.iter().map(|p| (p.relative_path.clone(), p.clone())).collect();
    let sections_by_file: BTreeMap<String, SectionView> =
        section_views.iter().map(|s| (s.relative_path.clone(), s.clone())).collect();
    templates.register_function(
        "get_url",
        functions::GetUrl { config: config.clone(), internal_links: internal_links.clone() },
    );
    templates.register_function("trans", functions::Trans { config: config.clone() });
    templates.register_function("get_page", functions::GetPage { pages: Arc::new(pages_by_file) });
    templates.register_function("get_section", functions::GetSection { sections: Arc::new(sections_by_file) });
    templates.register_filter("num_format", functions::NumFormat);
    templates.register_filter("digits", functions::Digits);
    templates.register_function("get_campaign", functions::GetCampaign { campaigns: Arc::new(campaign_views) });

    let jobs: Vec<RenderJob> = pages
        .iter()
        .zip(&page_views)
        .filter(|(page, _)| page.front_matter.render != Some(false))
        .map(|(page, view)| {
            let template = page
                .front_matter
                .template
                .clone()
                .or_else(|| page.section.and_then(|s| sections[s].front_matter.page_template.clone()))
                .unwrap_or_else(|| "page.html".into());
            RenderJob { placement: &page.placement, template, variable: "page", value: tera::to_value(view) }
        })
        .chain(sections.iter().zip(&section_views).filter(|(s, _)| s.front_matter.render != Some(false)).map(
            |(section, view)| {
                let default = if section.placement.relative.contains('/') { "section.html" } else { "index.html" };
                let template = section.front_matter.template.clone().unwrap_or_else(|| default.into());
                RenderJob { placement: &section.placement, template, variable: "section", value: tera::to_value(view) }
            },
        ))
        .collect();

    let results: Vec<Result<(String, OutputFile), Problem>> =
        jobs.par_iter().map(|job| job.render(&templates, &config)).collect();
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    for result in results {
        match result {
            Ok((path, file)) => {
                files.insert(path, file);
            }
            Err(problem) => problems.push(problem),
        }
    }
    if templates.get_template_names().any(|name| name == "404.html") {
        let mut context = base_context(&config, &config.default_language, "/404.html");
        context.insert("page", &serde_json::Value::Null);
        match templates.render("404.html", &context) {
            Ok(html) => {
                files.insert("404.html".into(), OutputFile::Bytes(html.into_bytes()));
            }
            Err(e) => problems.push(Problem::in_file("templates/404.html", error_chain(&e))),
        }
    }
    if !problems.is_empty() {
        return Err(Problems::sorted(problems));
    }
    for file in static_files {
        files.entry(file.output).or_insert(OutputFile::Copy(file.source));
    }
    Ok(RenderedSite { files })
}

struct RenderJob<'a> {
    placement: &'a Placement,
    template: String,
    variable: &'static str,
    value: serde_json::Result<tera::Value>,
}

impl RenderJob<'_> {
    fn render(&self, templates: &Tera, config: &SiteConfig) -> Result<(String, OutputFile), Problem> {
        let fail = |message: String| Problem::in_file(&self.placement.file, message);
        let value = self.value.as_ref().map_err(|e| fail(error_chain(e)))?;
        let mut context = base_context(config, &self.placement.lang, &self.placement.path);
        context.insert(self.variable, value);
        let html = templates
            .render(&self.template, &context)
            .map_err(|e| fail(format!("template {}: {}", self.template, error_chain(&e))))?;
        let output = format!("{}index.html", self.placement.path.trim_start_matches('/'));
        Ok((output, OutputFile::Bytes(html.into_bytes())))
    }
}

fn base_context(config: &SiteConfig, lang: &str, path: &str) -> Context {
    let mut context = Context::new();
    context.insert("config", &config.template_view(lang));
    context.insert("lang", lang);
    context.insert("current_path", path);
    context.insert("current_url", &config.permalink(path));
    context
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
