//! Stage 2, resolve: turns loaded files into a site: paths, permalinks, sections and their pages,
//! translations, and `@/` internal links. Pure: no IO. Collects every problem and fails once.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use campaigns::Campaigns;
use pulldown_cmark::{Event, Parser, Tag};
use rayon::prelude::*;
use tera::Tera;

use crate::config::SiteConfig;
use crate::load::{ContentKind, LoadedContent, LoadedSite, PageFrontMatter, SectionFrontMatter, StaticFile};
use crate::problem::{Problem, Problems, line_of};
use crate::render::markdown_options;

pub struct ResolvedSite {
    pub config: SiteConfig,
    pub campaigns: Campaigns,
    pub templates: Tera,
    pub static_files: Vec<StaticFile>,
    pub sections: Vec<ResolvedSection>,
    pub pages: Vec<ResolvedPage>,
    /// `@/` targets (`about.md`, `blog/_index.ar.md`) to their site path.
    pub internal_links: HashMap<String, String>,
}

/// What pages and sections share: where they came from and where they go.
#[derive(Debug, Clone)]
pub struct Placement {
    pub file: PathBuf,
    pub relative: String,
    pub lang: String,
    /// Site path with leading and trailing slash: `/`, `/ar/donate/`.
    pub path: String,
    pub permalink: String,
    pub body: String,
    pub body_line: usize,
    /// Indices of the same content in other languages (into `pages` or `sections`).
    pub translations: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct ResolvedPage {
    pub placement: Placement,
    pub front_matter: PageFrontMatter,
    pub slug: String,
    pub section: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ResolvedSection {
    pub placement: Placement,
    pub front_matter: SectionFrontMatter,
    /// Indices into `pages`, in the section's sort order.
    pub pages: Vec<usize>,
    pub subsections: Vec<usize>,
}

pub fn resolve(loaded: LoadedSite, include_drafts: bool) -> Result<ResolvedSite, Problems> {
    let LoadedSite { paths, config, campaigns, content, templates, static_files, mut problems } = loaded;
    let mut sections = Vec::new();
    let mut pages = Vec::new();
    for item in content {
        let LoadedContent { file, relative, lang, kind, body, body_line } = item;
        let placement = |path: String| Placement {
            permalink: config.permalink(&path),
            file: file.clone(),
            relative: relative.clone(),
            lang: lang.clone(),
            path,
            body: body.clone(),
            body_line,
            translations: Vec::new(),
        };
        match kind {
            ContentKind::Section(front_matter) if include_drafts || !front_matter.draft => {
                let path = section_path(&config, &relative, &lang);
                sections.push(ResolvedSection {
                    placement: placement(path),
                    front_matter: *front_matter,
                    pages: Vec::new(),
                    subsections: Vec::new(),
                });
            }
            ContentKind::Page(front_matter) if include_drafts || !front_matter.draft => {
                if let Some(problem) = unsafe_path(&file, &front_matter) {
                    problems.push(problem);
                    continue;
                }
                let slug = page_slug(&relative, &front_matter);
                let path = page_path(&config, &relative, &lang, &slug, &front_matter);
                pages.push(ResolvedPage {
                    placement: placement(path),
                    front_matter: *front_matter,
                    slug,
                    section: None,
                });
            }
            _ => {}
        }
    }

    problems.extend(duplicate_paths(&sections, &pages));
    problems.extend(missing_result_pages(&paths.config, &config, &campaigns, &sections, &pages));
    link_translations(sections.iter_mut().map(|s| &mut s.placement));
    link_translations(pages.iter_mut().map(|p| &mut p.placement));
    attach_pages(&mut sections, &mut pages);

    let internal_links: HashMap<String, String> = sections
        .iter()
        .map(|s| &s.placement)
        .chain(pages.iter().map(|p| &p.placement))
        .map(|p| (p.relative.clone(), p.path.clone()))
        .collect();
    let broken: Vec<Problem> = sections
        .par_iter()
        .map(|s| &s.placement)
        .chain(pages.par_iter().map(|p| &p.placement))
        .flat_map_iter(|placement| broken_links(placement, &internal_links))
        .collect();
    problems.extend(broken);

    if !problems.is_empty() {
        return Err(Problems::sorted(problems));
    }
    Ok(ResolvedSite { config, campaigns, templates, static_files, sections, pages, internal_links })
}

/// A `path` or `slug` that could leave the output folder or make a broken URL.
fn unsafe_path(file: &std::path::Path, front_matter: &PageFrontMatter) -> Option<Problem> {
    let bad_segment = |segment: &str| segment == "." || segment == ".." || segment.contains('\\');
    let bad_text = |text: &str| text.chars().any(char::is_control);
    if let Some(path) = &front_matter.path
        && (bad_text(path) || path.trim_matches('/').split('/').any(|s| s.is_empty() || bad_segment(s)))
        && !path.trim_matches('/').is_empty()
    {
        return Some(Problem::in_file(
            file,
            format!("path `{path}` must be plain segments separated by /, without . or .."),
        ));
    }
    if let Some(slug) = &front_matter.slug
        && (slug.is_empty() || slug.contains('/') || bad_segment(slug) || bad_text(slug))
    {
        return Some(Problem::in_file(file, format!("slug `{slug}` must be one path segment, without / . or ..")));
    }
    None
}

/// `_index.md` → `/`; `blog/_index.ar.md` → `/ar/blog/`.
fn section_path(config: &SiteConfig, relative: &str, lang: &str) -> String {
    let dir = relative.rsplit_once('/').map_or("", |(dir, _)| dir);
    join_path(&config.language_prefix(lang), &[dir])
}

/// The last path segment: `slug` from front matter, else the file stem (or the folder of an `index.md` bundle).
fn page_slug(relative: &str, front_matter: &PageFrontMatter) -> String {
    if let Some(slug) = &front_matter.slug {
        return slug.clone();
    }
    let mut parts = relative.rsplit('/');
    let file = parts.next().unwrap_or(relative);
    let stem = file.split('.').next().unwrap_or(file);
    if stem == "index" { parts.next().unwrap_or(stem).to_string() } else { stem.to_string() }
}

fn page_path(config: &SiteConfig, relative: &str, lang: &str, slug: &str, front_matter: &PageFrontMatter) -> String {
    let prefix = config.language_prefix(lang);
    if let Some(path) = &front_matter.path {
        return join_path(&prefix, &[path.trim_matches('/')]);
    }
    let mut dir = relative.rsplit_once('/').map_or("", |(dir, _)| dir);
    if relative.rsplit('/').next().is_some_and(|f| f.starts_with("index.")) {
        dir = dir.rsplit_once('/').map_or("", |(parent, _)| parent);
    }
    join_path(&prefix, &[dir, slug])
}

fn join_path(prefix: &str, parts: &[&str]) -> String {
    let mut path = prefix.to_string();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
    }
    path.push('/');
    path
}

fn duplicate_paths(sections: &[ResolvedSection], pages: &[ResolvedPage]) -> Vec<Problem> {
    let mut seen: BTreeMap<&str, &PathBuf> = BTreeMap::new();
    let mut problems = Vec::new();
    for placement in sections.iter().map(|s| &s.placement).chain(pages.iter().map(|p| &p.placement)) {
        if let Some(first) = seen.insert(&placement.path, &placement.file) {
            problems.push(Problem::in_file(
                &placement.file,
                format!("renders to {} which {} already renders to", placement.path, first.display()),
            ));
        }
    }
    problems
}

/// Donors are sent to each campaign's thank-you and failed pages in their language; a typo
/// there would send every donor to a 404, so each must exist in every language.
fn missing_result_pages(
    config_file: &std::path::Path,
    config: &SiteConfig,
    campaigns: &Campaigns,
    sections: &[ResolvedSection],
    pages: &[ResolvedPage],
) -> Vec<Problem> {
    let paths: std::collections::HashSet<&str> = sections
        .iter()
        .map(|s| s.placement.path.as_str())
        .chain(pages.iter().map(|p| p.placement.path.as_str()))
        .collect();
    let mut problems = Vec::new();
    for campaign in campaigns.iter() {
        for lang in config.all_languages() {
            for result_path in [&campaign.thank_you_path, &campaign.failed_path] {
                let path = format!("{}{result_path}", config.language_prefix(lang));
                if !paths.contains(path.as_str()) {
                    problems.push(Problem::in_file(
                        config_file,
                        format!("campaign `{}` sends donors to {path}, but no content renders there", campaign.slug),
                    ));
                }
            }
        }
    }
    problems
}

/// Files that differ only by language code (`about.md`, `about.ar.md`) are translations.
fn link_translations<'a>(placements: impl Iterator<Item = &'a mut Placement>) {
    let mut placements: Vec<&mut Placement> = placements.collect();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, placement) in placements.iter().enumerate() {
        groups.entry(translation_key(&placement.relative, &placement.lang)).or_default().push(index);
    }
    for members in groups.values() {
        for &index in members {
            placements[index].translations = members.iter().copied().filter(|&other| other != index).collect();
        }
    }
}

fn translation_key(relative: &str, lang: &str) -> String {
    relative.strip_suffix(&format!(".{lang}.md")).map_or_else(|| relative.to_string(), |base| format!("{base}.md"))
}

/// Puts each page in the section of its folder (same language) and sorts the section's pages.
fn attach_pages(sections: &mut [ResolvedSection], pages: &mut [ResolvedPage]) {
    let section_of_dir: HashMap<(String, String), usize> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| ((dir_of(&s.placement.relative).to_string(), s.placement.lang.clone()), i))
        .collect();
    for (index, page) in pages.iter_mut().enumerate() {
        let mut dir = dir_of(&page.placement.relative);
        if page.placement.relative.rsplit('/').next().is_some_and(|f| f.starts_with("index.")) {
            dir = dir_of(dir);
        }
        loop {
            if let Some(&section) = section_of_dir.get(&(dir.to_string(), page.placement.lang.clone())) {
                page.section = Some(section);
                sections[section].pages.push(index);
                break;
            }
            if dir.is_empty() {
                break;
            }
            dir = dir_of(dir);
        }
    }
    let parents: Vec<(usize, usize)> = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| !dir_of(&s.placement.relative).is_empty())
        .filter_map(|(i, s)| {
            let parent_dir = dir_of(dir_of(&s.placement.relative));
            section_of_dir.get(&(parent_dir.to_string(), s.placement.lang.clone())).map(|&p| (p, i))
        })
        .collect();
    for (parent, child) in parents {
        sections[parent].subsections.push(child);
    }
    for section in sections.iter_mut() {
        let sort_by = section.front_matter.sort_by.as_deref().unwrap_or("none");
        section.pages.sort_by(|&a, &b| {
            let (a, b) = (&pages[a], &pages[b]);
            let by_path = a.placement.relative.cmp(&b.placement.relative);
            match sort_by {
                "weight" => a
                    .front_matter
                    .weight
                    .unwrap_or(i64::MAX)
                    .cmp(&b.front_matter.weight.unwrap_or(i64::MAX))
                    .then(by_path),
                "title" => a.front_matter.title.cmp(&b.front_matter.title).then(by_path),
                "date" => date_text(&b.front_matter).cmp(&date_text(&a.front_matter)).then(by_path),
                _ => by_path,
            }
        });
    }
}

fn date_text(front_matter: &PageFrontMatter) -> String {
    front_matter.date.as_ref().map(|d| d.to_string()).unwrap_or_default()
}

/// `blog/post.md` → `blog`; `about.md` → ``.
fn dir_of(relative: &str) -> &str {
    relative.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Every `@/` link in a body whose target file does not exist, with its line.
fn broken_links(placement: &Placement, internal_links: &HashMap<String, String>) -> Vec<Problem> {
    let body = &placement.body;
    Parser::new_ext(body, markdown_options())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => Some((dest_url, range.start)),
            _ => None,
        })
        .filter_map(|(dest, offset)| {
            let target = dest.strip_prefix("@/")?;
            let file = target.split('#').next().unwrap_or(target);
            (!internal_links.contains_key(file)).then(|| {
                let line = placement.body_line + line_of(body, offset) - 1;
                Problem::at(&placement.file, line, format!("internal link @/{target} points to no content file"))
            })
        })
        .collect()
}
