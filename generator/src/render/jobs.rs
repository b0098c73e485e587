//! The render jobs: one per output file (page, section pager, taxonomy list, term pager,
//! redirect, feed, 404), the order they are listed in, and the `Renderer` that turns one into its
//! file through the site's templates.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value};
use tera::{Context, Tera};

use super::views::{Pager, Views};
use super::{Content, OutputFile, SitemapEntry, feeds, template_errors, usage};
use crate::config::SiteConfig;
use crate::problem::Problem;
use crate::resolve::ResolvedSite;

/// What a job renders: its output path and contents (every job renders one today).
pub(super) type JobFile = Option<(String, OutputFile)>;

/// One file to render, and what its template needs.
pub(super) enum Job {
    Page(usize),
    /// A section, or one pager of a paginated section (1-based).
    Section {
        section: usize,
        pager: usize,
    },
    TaxonomyList(usize),
    Term {
        taxonomy: usize,
        term: usize,
        pager: usize,
    },
    /// A page that sends visitors elsewhere: an alias, a section's `redirect_to`, pager 1.
    Redirect {
        output: String,
        to: String,
        file: PathBuf,
    },
    /// An Atom or RSS feed (an index into the renderer's feeds).
    Feed(usize),
    NotFound,
}

/// Everything the site renders, in a stable order.
pub(super) fn jobs(site: &ResolvedSite) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (index, page) in site.pages.iter().enumerate() {
        if page.front_matter.render != Some(false) {
            jobs.push(Job::Page(index));
        }
        for alias in &page.front_matter.aliases {
            jobs.push(redirect(alias, &page.placement.permalink, &page.placement.file));
        }
    }
    for (index, section) in site.sections.iter().enumerate() {
        let fm = &section.front_matter;
        for alias in &fm.aliases {
            jobs.push(redirect(alias, &section.placement.permalink, &section.placement.file));
        }
        if fm.render == Some(false) {
            continue;
        }
        if let Some(target) = &fm.redirect_to {
            let to = if target.contains("://") {
                target.clone()
            } else {
                site.config.permalink(&format!("/{}", target.trim_start_matches('/')))
            };
            let output = section.placement.path.clone();
            jobs.push(Job::Redirect { output, to, file: section.placement.file.clone() });
            continue;
        }
        let pagers = section.paginate_by().map_or(1, |by| section.pages.len().div_ceil(by).max(1));
        jobs.extend((1..=pagers).map(|pager| Job::Section { section: index, pager }));
        if section.paginate_by().is_some() {
            let output = format!("{}{}/1/", section.placement.path, section.paginate_path());
            jobs.push(Job::Redirect {
                output,
                to: section.placement.permalink.clone(),
                file: section.placement.file.clone(),
            });
        }
    }
    for (index, taxonomy) in site.taxonomies.iter().enumerate() {
        if !taxonomy.config.render {
            continue;
        }
        jobs.push(Job::TaxonomyList(index));
        for (term_index, term) in taxonomy.terms.iter().enumerate() {
            let pagers =
                taxonomy.config.paginate_by.filter(|&n| n > 0).map_or(1, |by| term.pages.len().div_ceil(by).max(1));
            jobs.extend((1..=pagers).map(|pager| Job::Term { taxonomy: index, term: term_index, pager }));
            if taxonomy.config.paginate_by.is_some_and(|n| n > 0) {
                let output = format!("{}{}/1/", term.path, taxonomy.config.paginate_path());
                jobs.push(Job::Redirect { output, to: term.permalink.clone(), file: PathBuf::from("config") });
            }
        }
    }
    jobs.push(Job::NotFound);
    jobs
}

/// A rendered page a sitemap lists: not redirects or the 404 page, and pagers after the first
/// only unless `exclude_paginated_pages_in_sitemap = "all"`.
pub(super) fn sitemap_entry(job: &Job, site: &ResolvedSite) -> Option<SitemapEntry> {
    let keep_pagers = site.config.exclude_paginated_pages_in_sitemap == crate::config::PaginatedInSitemap::None;
    let pager_link = |first: &str, paginate_path: &str, pager: usize| {
        if pager == 1 { first.to_string() } else { format!("{first}{paginate_path}/{pager}/") }
    };
    match *job {
        Job::Page(index) => {
            let page = &site.pages[index];
            let updated = page.updated.as_ref().or(page.date.as_ref()).map(|d| d.text.clone());
            Some(SitemapEntry { permalink: page.placement.permalink.clone(), updated })
        }
        Job::Section { section, pager } if pager == 1 || keep_pagers => {
            let section = &site.sections[section];
            let paginate_path = section.front_matter.paginate_path.as_deref().unwrap_or("page");
            Some(SitemapEntry {
                permalink: pager_link(&section.placement.permalink, paginate_path, pager),
                updated: None,
            })
        }
        Job::TaxonomyList(index) => {
            Some(SitemapEntry { permalink: site.taxonomies[index].permalink.clone(), updated: None })
        }
        Job::Term { taxonomy, term, pager } if pager == 1 || keep_pagers => {
            let taxonomy = &site.taxonomies[taxonomy];
            let permalink = pager_link(&taxonomy.terms[term].permalink, taxonomy.config.paginate_path(), pager);
            Some(SitemapEntry { permalink, updated: None })
        }
        _ => None,
    }
}

/// An alias (`old/url/` or `old.html`) or any other path to redirect from, to a permalink.
fn redirect(from: &str, to: &str, file: &std::path::Path) -> Job {
    let from = from.trim_start_matches('/');
    let output = if from.ends_with(".html") || from.ends_with('/') || from.is_empty() {
        format!("/{from}")
    } else {
        format!("/{from}/")
    };
    Job::Redirect { output, to: to.to_string(), file: file.to_path_buf() }
}

/// Renders jobs; holds what every render shares.
pub(super) struct Renderer<'a> {
    site: &'a ResolvedSite,
    views: &'a Views,
    templates: &'a Tera,
    /// The `config` value of each language, made once.
    config_values: &'a HashMap<String, Value>,
    config: &'a SiteConfig,
    /// Per taxonomy, whether its templates may read the pages of a term (see `usage.rs`).
    term_templates_read_pages: Vec<(bool, bool)>,
    feeds: &'a [feeds::Feed],
}

impl<'a> Renderer<'a> {
    pub(super) fn new(
        site: &'a ResolvedSite,
        views: &'a Views,
        templates: &'a Tera,
        config: &'a SiteConfig,
        config_values: &'a HashMap<String, Value>,
        feeds: &'a [feeds::Feed],
    ) -> Self {
        let term_templates_read_pages = site
            .taxonomies
            .iter()
            .map(|taxonomy| {
                let list = taxonomy_template(templates, &taxonomy.config.name, "list");
                let single = taxonomy_template(templates, &taxonomy.config.name, "single");
                (usage::may_read_pages(templates, &list, "terms"), usage::may_read_pages(templates, &single, "term"))
            })
            .collect();
        Self { site, views, templates, config_values, config, term_templates_read_pages, feeds }
    }

    pub(super) fn render(&self, job: &Job) -> Result<JobFile, Problem> {
        match job {
            Job::Page(index) => {
                let page = &self.site.pages[*index];
                let template = page_template(self.site, page);
                let mut context = self.context(&page.placement.lang, &page.placement.path);
                context.insert("page".into(), self.views.own_page(page, *index));
                self.render_template(&template, context, &page.placement.file, &page.placement.path)
            }
            Job::Section { section: index, pager } => {
                let section = &self.site.sections[*index];
                let placement = &section.placement;
                let template = section_template(section);
                let mut context = self.context(&placement.lang, &placement.path);
                let path = match section.paginate_by() {
                    None => {
                        context.insert("section".into(), self.views.section_with_pages(section, *index));
                        placement.path.clone()
                    }
                    Some(by) => {
                        context.insert("section".into(), self.views.section(*index));
                        let mut members = section.pages.clone();
                        if section.front_matter.paginate_reversed == Some(true) {
                            members.reverse();
                        }
                        let paginate_path = section.paginate_path();
                        let (value, path) =
                            self.pager(&placement.permalink, &placement.path, paginate_path, by, &members, *pager);
                        context.insert("paginator".into(), value);
                        path
                    }
                };
                context.insert("current_path".into(), path.clone().into());
                context.insert("current_url".into(), self.config.permalink(&path).into());
                self.render_template(&template, context, &placement.file, &path)
            }
            Job::TaxonomyList(index) => {
                let taxonomy = &self.site.taxonomies[*index];
                let with_pages = self.term_templates_read_pages[*index].0;
                let template = taxonomy_template(self.templates, &taxonomy.config.name, "list");
                let mut context = self.context(&taxonomy.config.lang, &taxonomy.path);
                context.insert("taxonomy".into(), serde_json::to_value(&taxonomy.config).unwrap_or_default());
                let terms = taxonomy.terms.iter().map(|t| self.views.term(t, with_pages)).collect();
                context.insert("terms".into(), Value::Array(terms));
                self.render_template(&template, context, &self.config_file(), &taxonomy.path)
            }
            Job::Term { taxonomy: index, term, pager } => {
                let taxonomy = &self.site.taxonomies[*index];
                let term = &taxonomy.terms[*term];
                let with_pages = self.term_templates_read_pages[*index].1;
                let template = taxonomy_template(self.templates, &taxonomy.config.name, "single");
                let mut context = self.context(&taxonomy.config.lang, &term.path);
                context.insert("taxonomy".into(), serde_json::to_value(&taxonomy.config).unwrap_or_default());
                context.insert("term".into(), self.views.term(term, with_pages));
                let mut path = term.path.clone();
                if let Some(by) = taxonomy.config.paginate_by.filter(|&n| n > 0) {
                    let (value, pager_path) = self.pager(
                        &term.permalink,
                        &term.path,
                        taxonomy.config.paginate_path(),
                        by,
                        &term.pages,
                        *pager,
                    );
                    context.insert("paginator".into(), value);
                    path = pager_path;
                }
                context.insert("current_path".into(), path.clone().into());
                context.insert("current_url".into(), self.config.permalink(&path).into());
                self.render_template(&template, context, &self.config_file(), &path)
            }
            Job::Redirect { output, to, file } => {
                let html = if self.templates.get_template("internal/alias.html").is_ok() {
                    let mut context = Map::new();
                    context.insert("url".into(), to.clone().into());
                    self.templates
                        .render("internal/alias.html", &Context::from_value(Value::Object(context)).unwrap_or_default())
                        .map_err(|e| self.template_problem(&e, "internal/alias.html", Some(file)))?
                } else {
                    redirect_page(to)
                };
                Ok(Some((output_file(output), OutputFile::Bytes(html.into_bytes()))))
            }
            Job::Feed(index) => self.feed(&self.feeds[*index]),
            Job::NotFound => {
                let lang = &self.config.default_language;
                let mut context = self.context(lang, "/404.html");
                context.insert("page".into(), Value::Null);
                if self.templates.get_template("404.html").is_ok() {
                    let html = self
                        .templates
                        .render("404.html", &into_context(context))
                        .map_err(|e| self.template_problem(&e, "404.html", None))?;
                    Ok(Some(("404.html".into(), OutputFile::Bytes(html.into_bytes()))))
                } else {
                    Ok(Some(("404.html".into(), OutputFile::Bytes(NOT_FOUND_PAGE.as_bytes().to_vec()))))
                }
            }
        }
    }

    fn feed(&self, feed: &feeds::Feed) -> Result<JobFile, Problem> {
        let mut context = self.context(&feed.lang, &feed.path);
        context.insert("feed_url".into(), self.config.permalink(&feed.path).into());
        context.insert("pages".into(), self.views.page_list(&feed.pages));
        let dates: Vec<Value> = feed
            .pages
            .iter()
            .map(|&i| {
                let page = &self.site.pages[i];
                let published = page.date.as_ref().map(|d| d.at).unwrap_or_default();
                let (published_atom, published_rss) = feeds::feed_dates(published);
                let (updated_atom, _) = feeds::feed_dates(page.last_change().unwrap_or(published));
                serde_json::json!({ "published_atom": published_atom, "published_rss": published_rss, "updated_atom": updated_atom })
            })
            .collect();
        context.insert("feed_dates".into(), Value::Array(dates));
        let newest = feed.pages.iter().filter_map(|&i| self.site.pages[i].last_change()).max().unwrap_or_default();
        let (atom, rss) = feeds::feed_dates(newest);
        context.insert("feed_updated".into(), serde_json::json!({ "atom": atom, "rss": rss }));
        let last_updated = feed.pages.first().and_then(|&i| {
            let page = &self.site.pages[i];
            page.updated.as_ref().or(page.date.as_ref()).map(|d| d.text.clone())
        });
        context.insert("last_updated".into(), last_updated.into());
        let file = match feed.scope {
            feeds::FeedScope::Language => self.config_file(),
            feeds::FeedScope::Section(index) => {
                let section = &self.site.sections[index];
                context.insert("section".into(), self.views.section(index));
                section.placement.file.clone()
            }
            feeds::FeedScope::Term { taxonomy, term } => {
                let taxonomy = &self.site.taxonomies[taxonomy];
                context.insert("taxonomy".into(), serde_json::to_value(&taxonomy.config).unwrap_or_default());
                context.insert("term".into(), self.views.term(&taxonomy.terms[term], false));
                self.config_file()
            }
        };
        let xml = self
            .templates
            .render(&feed.filename, &into_context(context))
            .map_err(|e| self.template_problem(&e, &feed.filename, Some(&file)))?;
        Ok(Some((feed.path.trim_start_matches('/').to_string(), OutputFile::Bytes(xml.into_bytes()))))
    }

    /// One pager's `paginator` value and its site path.
    fn pager(
        &self,
        first: &str,
        path: &str,
        paginate_path: &str,
        by: usize,
        members: &[usize],
        current: usize,
    ) -> (Value, String) {
        let pager = Pager {
            paginate_by: by,
            first,
            base_url: format!("{first}{paginate_path}/"),
            number_pagers: members.len().div_ceil(by).max(1),
            current_index: current,
            total_pages: members.len(),
        };
        let start = (current - 1) * by;
        let shown = &members[start.min(members.len())..(start + by).min(members.len())];
        let site_path = if current == 1 { path.to_string() } else { format!("{path}{paginate_path}/{current}/") };
        (pager.value(self.views.page_list(shown)), site_path)
    }

    fn context(&self, lang: &str, path: &str) -> Map<String, Value> {
        let mut context = Map::new();
        let config = self.config_values.get(lang).or_else(|| self.config_values.get(&self.config.default_language));
        context.insert("config".into(), config.cloned().unwrap_or_default());
        context.insert("lang".into(), lang.into());
        context.insert("current_path".into(), path.into());
        context.insert("current_url".into(), self.config.permalink(path).into());
        context
    }

    fn render_template(
        &self,
        template: &str,
        context: Map<String, Value>,
        file: &std::path::Path,
        path: &str,
    ) -> Result<JobFile, Problem> {
        let html = if self.templates.get_template(template).is_ok() {
            self.templates
                .render(template, &into_context(context))
                .map_err(|e| self.template_problem(&e, template, Some(file)))?
        } else if matches!(template, "page.html" | "section.html" | "index.html") {
            // Zola's built-in templates for these are blank pages.
            String::new()
        } else {
            return Err(Problem::in_file(file, format!("template {template} does not exist")));
        };
        // Every page is held until the write stage, and a rendered String's buffer grew by
        // doubling: handing back the spare capacity keeps a big site's peak memory down.
        let mut html = html;
        html.shrink_to_fit();
        Ok(Some((output_file(path), OutputFile::Bytes(html.into_bytes()))))
    }

    fn template_problem(&self, error: &tera::Error, template: &str, rendering: Option<&std::path::Path>) -> Problem {
        template_errors::render_problem(error, template, self.templates, &self.site.template_files, rendering)
    }

    fn config_file(&self) -> PathBuf {
        self.site.paths.config.clone()
    }
}

impl Job {
    /// The template the job renders through.
    pub(super) fn template(&self, site: &ResolvedSite, templates: &Tera, feeds: &[feeds::Feed]) -> String {
        match self {
            Job::Page(index) => page_template(site, &site.pages[*index]),
            Job::Section { section, .. } => section_template(&site.sections[*section]),
            Job::TaxonomyList(index) => taxonomy_template(templates, &site.taxonomies[*index].config.name, "list"),
            Job::Term { taxonomy, .. } => {
                taxonomy_template(templates, &site.taxonomies[*taxonomy].config.name, "single")
            }
            Job::Redirect { .. } => "internal/alias.html".into(),
            Job::Feed(index) => feeds[*index].filename.clone(),
            Job::NotFound => "404.html".into(),
        }
    }

    /// The page or section the job renders as its own, with the name its template sees it by.
    pub(super) fn own(&self) -> Option<(Content, &'static str)> {
        match *self {
            Job::Page(index) => Some((Content::Page(index), "page")),
            Job::Section { section, .. } => Some((Content::Section(section), "section")),
            _ => None,
        }
    }
}

/// The page's own `template`, else the `page_template` of its section or of the nearest
/// section above that sets one, else `page.html`.
fn page_template(site: &ResolvedSite, page: &crate::resolve::ResolvedPage) -> String {
    let inherited = || {
        let mut section = page.section;
        while let Some(index) = section {
            let found = &site.sections[index];
            if let Some(template) = &found.front_matter.page_template {
                return Some(template.clone());
            }
            section = found.parent;
        }
        None
    };
    page.front_matter.template.clone().or_else(inherited).unwrap_or_else(|| "page.html".into())
}

/// The section's `template`, else `index.html` for the home page and `section.html` for others.
fn section_template(section: &crate::resolve::ResolvedSection) -> String {
    let default = if section.placement.relative.contains('/') { "section.html" } else { "index.html" };
    section.front_matter.template.clone().unwrap_or_else(|| default.into())
}

/// `{name}/list.html` if the site or theme has it, else `taxonomy_list.html`.
fn taxonomy_template(templates: &Tera, name: &str, kind: &str) -> String {
    let own = format!("{name}/{kind}.html");
    if templates.get_template(&own).is_ok() { own } else { format!("taxonomy_{kind}.html") }
}

fn into_context(map: Map<String, Value>) -> Context {
    Context::from_value(Value::Object(map)).unwrap_or_default()
}

/// `/blog/post/` → `blog/post/index.html`; `/old.html` → `old.html`.
fn output_file(path: &str) -> String {
    let path = path.trim_start_matches('/');
    if path.ends_with(".html") { path.to_string() } else { format!("{path}index.html") }
}

/// Where a moved page sends its visitors: no script, so the pages' CSP holds.
fn redirect_page(to: &str) -> String {
    // Quotes and markup escaped; slashes kept, so the address reads as written.
    let to = to.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Redirecting…</title>\
         <link rel=\"canonical\" href=\"{to}\"><meta http-equiv=\"refresh\" content=\"0; url={to}\">\
         <meta name=\"robots\" content=\"noindex\"></head>\
         <body><p>This page has moved to <a href=\"{to}\">{to}</a>.</p></body></html>\n"
    )
}

/// The 404 page of a site without a `404.html` template.
const NOT_FOUND_PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>\
     <body><h1>404 Not Found</h1></body></html>\n";
