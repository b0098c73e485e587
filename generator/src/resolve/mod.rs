//! Stage 2, resolve: turns loaded files into a site: paths, permalinks, dates, sections and
//! their sorted pages, taxonomies, translations, co-located assets and `@/` internal links.
//! Pure: no IO. Collects every problem and fails once.

mod dates;
pub mod sorting;
pub mod taxonomies;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use campaigns::Campaigns;
use pulldown_cmark::{Event, Parser, Tag};
use rayon::prelude::*;
use tera::Tera;

pub use dates::ContentDate;
use sorting::SortBy;
pub use taxonomies::{Taxonomy, Term};

use crate::SitePaths;
use crate::config::SiteConfig;
use crate::load::{ContentKind, LoadedContent, LoadedSite, PageFrontMatter, SectionFrontMatter, StaticFile};
use crate::problem::{Problem, Problems, line_of};
use crate::render::{Content, markdown_options};
use crate::slugs::slugify;

pub struct ResolvedSite {
    pub paths: SitePaths,
    pub config: SiteConfig,
    pub campaigns: Campaigns,
    pub templates: Tera,
    pub template_files: std::sync::Arc<BTreeMap<String, PathBuf>>,
    pub static_files: Vec<StaticFile>,
    /// Files beside the content (images of a page bundle…), at their output paths.
    pub assets: Vec<StaticFile>,
    pub sections: Vec<ResolvedSection>,
    pub pages: Vec<ResolvedPage>,
    pub taxonomies: Vec<Taxonomy>,
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
    /// `_index.md` files of the sections above, the root first.
    pub ancestors: Vec<String>,
    /// Output paths (`blog/post/photo.jpg`) of the files beside it.
    pub assets: Vec<String>,
    /// Content files (`blog/other.md`) whose bodies link here with `@/`, sorted: Zola's
    /// `backlinks`.
    pub backlinks: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ResolvedPage {
    pub placement: Placement,
    pub front_matter: PageFrontMatter,
    pub slug: String,
    pub date: Option<ContentDate>,
    pub updated: Option<ContentDate>,
    pub section: Option<usize>,
    /// The neighbours in the section's order: `lower` before this page, `higher` after it.
    pub lower: Option<usize>,
    pub higher: Option<usize>,
}

impl ResolvedSite {
    pub(crate) fn placement(&self, content: Content) -> &Placement {
        match content {
            Content::Page(i) => &self.pages[i].placement,
            Content::Section(i) => &self.sections[i].placement,
        }
    }

    pub(crate) fn placement_mut(&mut self, content: Content) -> &mut Placement {
        match content {
            Content::Page(i) => &mut self.pages[i].placement,
            Content::Section(i) => &mut self.sections[i].placement,
        }
    }

    /// Every page's and section's placement, with which it is.
    pub(crate) fn placements(&self) -> impl Iterator<Item = (Content, &Placement)> {
        let pages = self.pages.iter().enumerate().map(|(i, p)| (Content::Page(i), &p.placement));
        pages.chain(self.sections.iter().enumerate().map(|(i, s)| (Content::Section(i), &s.placement)))
    }
}

impl ResolvedPage {
    /// `updated`, else `date`: what `sort_by = "update_date"` orders by.
    pub fn last_change(&self) -> Option<chrono::NaiveDateTime> {
        self.updated.as_ref().or(self.date.as_ref()).map(|d| d.at)
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedSection {
    pub placement: Placement,
    pub front_matter: SectionFrontMatter,
    /// Indices into `pages`, in the section's sort order (with transparent subsections' pages).
    pub pages: Vec<usize>,
    /// Indices into `sections`, by weight then path.
    pub subsections: Vec<usize>,
    /// The section above, by index.
    pub parent: Option<usize>,
}

impl ResolvedSection {
    /// Pages per pager, when the section is paginated.
    pub fn paginate_by(&self) -> Option<usize> {
        self.front_matter.paginate_by.filter(|&n| n > 0)
    }

    /// The folder of pagers 2 and on: `page` unless the section names another.
    pub fn paginate_path(&self) -> &str {
        self.front_matter.paginate_path.as_deref().unwrap_or("page")
    }
}

pub fn resolve(loaded: LoadedSite, include_drafts: bool) -> Result<ResolvedSite, Problems> {
    let LoadedSite { paths, config, campaigns, content, templates, template_files, static_files, assets, mut problems } =
        loaded;
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
            ancestors: Vec::new(),
            assets: Vec::new(),
            backlinks: Vec::new(),
        };
        match kind {
            ContentKind::Section(front_matter) if include_drafts || !front_matter.draft => {
                if let Err(message) = SortBy::parse(front_matter.sort_by.as_deref()) {
                    problems.push(Problem::in_file(&file, message));
                }
                let path = section_path(&config, &relative, &lang);
                sections.push(ResolvedSection {
                    placement: placement(path),
                    front_matter: *front_matter,
                    pages: Vec::new(),
                    subsections: Vec::new(),
                    parent: None,
                });
            }
            ContentKind::Page(front_matter) if include_drafts || !front_matter.draft => {
                if let Some(problem) = unsafe_path(&file, &front_matter) {
                    problems.push(problem);
                    continue;
                }
                let (date, updated) = match page_dates(&relative, &front_matter) {
                    Ok(dates) => dates,
                    Err(message) => {
                        problems.push(Problem::in_file(&file, message));
                        continue;
                    }
                };
                let slug = page_slug(&relative, &front_matter, &config);
                let path = page_path(&config, &relative, &lang, &slug, &front_matter);
                pages.push(ResolvedPage {
                    placement: placement(path),
                    front_matter: *front_matter,
                    slug,
                    date,
                    updated,
                    section: None,
                    lower: None,
                    higher: None,
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
    let assets = place_assets(assets, &mut sections, &mut pages);
    let taxonomies = taxonomies::collect(&config, &pages, &mut problems);

    let internal_links: HashMap<String, String> = sections
        .iter()
        .map(|s| &s.placement)
        .chain(pages.iter().map(|p| &p.placement))
        .map(|p| (p.relative.clone(), p.path.clone()))
        .collect();
    let placements: Vec<&Placement> =
        sections.iter().map(|s| &s.placement).chain(pages.iter().map(|p| &p.placement)).collect();
    let (broken, backlinks) = check_internal_links(&placements, &placements, &internal_links, &config);
    problems.extend(broken);
    for placement in sections.iter_mut().map(|s| &mut s.placement).chain(pages.iter_mut().map(|p| &mut p.placement)) {
        if let Some(sources) = backlinks.get(&placement.relative) {
            placement.backlinks = sources.iter().cloned().collect();
        }
    }

    if !problems.is_empty() {
        return Err(Problems::sorted(problems));
    }
    Ok(ResolvedSite {
        paths,
        config,
        campaigns,
        templates,
        template_files,
        static_files,
        assets,
        sections,
        pages,
        taxonomies,
        internal_links,
    })
}

/// `date` and `updated` from front matter; without a `date`, one at the start of the file name.
fn page_dates(
    relative: &str,
    front_matter: &PageFrontMatter,
) -> Result<(Option<ContentDate>, Option<ContentDate>), String> {
    let parse = |value: &Option<toml::Value>, key: &str| {
        value.as_ref().map(dates::parse).transpose().map_err(|message| format!("{key}: {message}"))
    };
    let mut date = parse(&front_matter.date, "date")?;
    let updated = parse(&front_matter.updated, "updated")?;
    if date.is_none() {
        date = dates::from_file_stem(file_stem(relative)).map(|(date, _)| date);
    }
    Ok((date, updated))
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
    join_path(&config.language_prefix(lang), &[dir_of(relative)])
}

/// `blog/post.ar.md` → `post`; `blog/post/index.md` → `index`.
fn file_stem(relative: &str) -> &str {
    let file = relative.rsplit('/').next().unwrap_or(relative);
    file.split('.').next().unwrap_or(file)
}

fn is_bundle(relative: &str) -> bool {
    file_stem(relative) == "index"
}

/// The last path segment: `slug` from front matter, else the file stem (or the folder of an
/// `index.md` bundle) without a date prefix, slugified by `[slugify] paths`.
fn page_slug(relative: &str, front_matter: &PageFrontMatter, config: &SiteConfig) -> String {
    let strategy = config.slugify.paths;
    if let Some(slug) = &front_matter.slug {
        return slugify(slug, strategy);
    }
    let stem =
        if is_bundle(relative) { dir_of(relative).rsplit('/').next().unwrap_or("") } else { file_stem(relative) };
    let stem = match dates::from_file_stem(stem) {
        Some((_, rest)) if !config.slugify.paths_keep_dates => rest,
        _ => stem,
    };
    slugify(stem, strategy)
}

fn page_path(config: &SiteConfig, relative: &str, lang: &str, slug: &str, front_matter: &PageFrontMatter) -> String {
    let prefix = config.language_prefix(lang);
    if let Some(path) = &front_matter.path {
        return join_path(&prefix, &[path.trim_matches('/')]);
    }
    let mut dir = dir_of(relative);
    if is_bundle(relative) {
        dir = dir_of(dir);
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

/// Puts each page in the section of its folder or the nearest folder above (same language),
/// adds the pages of transparent sections to their parent too, sorts every list, and links
/// each page to its neighbours.
fn attach_pages(sections: &mut [ResolvedSection], pages: &mut [ResolvedPage]) {
    let section_of_dir: HashMap<(String, String), usize> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| ((dir_of(&s.placement.relative).to_string(), s.placement.lang.clone()), i))
        .collect();
    // The section a folder belongs to, looking upwards from it.
    let owner = |mut dir: &str, lang: &str| loop {
        if let Some(&section) = section_of_dir.get(&(dir.to_string(), lang.to_string())) {
            return Some(section);
        }
        if dir.is_empty() {
            return None;
        }
        dir = dir_of(dir);
    };
    for (index, page) in pages.iter_mut().enumerate() {
        let mut dir = dir_of(&page.placement.relative);
        if is_bundle(&page.placement.relative) {
            dir = dir_of(dir);
        }
        if let Some(section) = owner(dir, &page.placement.lang) {
            page.section = Some(section);
            sections[section].pages.push(index);
        }
    }
    let parent_of: Vec<Option<usize>> = sections
        .iter()
        .map(|s| {
            let dir = dir_of(&s.placement.relative);
            if dir.is_empty() { None } else { owner(dir_of(dir), &s.placement.lang) }
        })
        .collect();
    for (child, parent) in parent_of.iter().enumerate() {
        sections[child].parent = *parent;
        if let Some(parent) = *parent {
            sections[parent].subsections.push(child);
        }
    }
    let relatives: Vec<String> = sections.iter().map(|s| s.placement.relative.clone()).collect();
    for (index, section) in sections.iter_mut().enumerate() {
        let mut chain = Vec::new();
        let mut next = parent_of[index];
        while let Some(parent) = next {
            chain.push(relatives[parent].clone());
            next = parent_of[parent];
        }
        chain.reverse();
        section.placement.ancestors = chain;
    }
    for page in pages.iter_mut() {
        if let Some(section) = page.section {
            let mut ancestors = sections[section].placement.ancestors.clone();
            ancestors.push(relatives[section].clone());
            page.placement.ancestors = ancestors;
        }
    }

    // Transparent sections lend their pages to the parent, deepest first so chains work.
    let mut by_depth: Vec<usize> = (0..sections.len()).collect();
    by_depth.sort_by_key(|&i| std::cmp::Reverse(sections[i].placement.ancestors.len()));
    for child in by_depth {
        if let (Some(parent), Some(true)) = (parent_of[child], sections[child].front_matter.transparent) {
            let lent = sections[child].pages.clone();
            sections[parent].pages.extend(lent);
        }
    }

    for index in 0..sections.len() {
        let by = SortBy::parse(sections[index].front_matter.sort_by.as_deref()).unwrap_or(SortBy::None);
        let mut members = std::mem::take(&mut sections[index].pages);
        let left_out = sorting::sort(&mut members, pages, by);
        if !left_out.is_empty() {
            tracing::warn!(
                section = %sections[index].placement.file.display(),
                pages = left_out.len(),
                "pages without what sort_by needs are left out of the section's list"
            );
        }
        // Neighbours come from the page's own section, not from a parent it is lent to.
        for (position, &page) in members.iter().enumerate() {
            if pages[page].section == Some(index) {
                pages[page].lower = position.checked_sub(1).map(|p| members[p]);
                pages[page].higher = members.get(position + 1).copied();
            }
        }
        sections[index].pages = members;
        let weights: Vec<(Option<i64>, String)> = sections[index]
            .subsections
            .iter()
            .map(|&s| (sections[s].front_matter.weight, sections[s].placement.relative.clone()))
            .collect();
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| {
            weights[a].0.unwrap_or(0).cmp(&weights[b].0.unwrap_or(0)).then_with(|| weights[a].1.cmp(&weights[b].1))
        });
        let subsections = order.into_iter().map(|i| sections[index].subsections[i]).collect();
        sections[index].subsections = subsections;
    }
}

/// Gives each file beside the content its output path: inside a page bundle, the page's path
/// (so a page moved with `path` keeps its images); elsewhere, its folder's path.
fn place_assets(
    assets: Vec<StaticFile>,
    sections: &mut [ResolvedSection],
    pages: &mut [ResolvedPage],
) -> Vec<StaticFile> {
    let bundle_of_dir: HashMap<&str, usize> = pages
        .iter()
        .enumerate()
        .filter(|(_, p)| is_bundle(&p.placement.relative))
        .map(|(i, p)| (dir_of(&p.placement.relative), i))
        .collect();
    let section_of_dir: HashMap<&str, usize> =
        sections.iter().enumerate().map(|(i, s)| (dir_of(&s.placement.relative), i)).collect();
    let mut owned: Vec<(Option<usize>, Option<usize>, StaticFile)> = Vec::with_capacity(assets.len());
    for asset in assets {
        let relative = asset.output.clone();
        let mut dir = dir_of(&relative);
        let mut bundle = None;
        loop {
            if let Some(&page) = bundle_of_dir.get(dir) {
                bundle = Some((page, dir));
                break;
            }
            if dir.is_empty() {
                break;
            }
            dir = dir_of(dir);
        }
        let (page, section, output) = match bundle {
            Some((page, dir)) => {
                let inside = relative[dir.len()..].trim_start_matches('/');
                (Some(page), None, format!("{}{inside}", pages[page].placement.path.trim_start_matches('/')))
            }
            None => (None, section_of_dir.get(dir_of(&relative)).copied(), relative.clone()),
        };
        owned.push((page, section, StaticFile { source: asset.source, output }));
    }
    for (page, section, file) in &owned {
        if let Some(page) = page {
            pages[*page].placement.assets.push(file.output.clone());
        }
        if let Some(section) = section {
            sections[*section].placement.assets.push(file.output.clone());
        }
    }
    owned.into_iter().map(|(_, _, file)| file).collect()
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

/// `blog/post.md` → `blog`; `about.md` → ``.
fn dir_of(relative: &str) -> &str {
    relative.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// An `@/` link in a body: its target file, its anchor, the file line it is on, and whether it
/// is an image's source rather than a link (only links are backlinks).
struct InternalLink {
    file: String,
    anchor: Option<String>,
    line: usize,
    image: bool,
}

fn internal_links_in(placement: &Placement) -> Vec<InternalLink> {
    let body = &placement.body;
    Parser::new_ext(body, markdown_options())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Link { dest_url, .. }) => Some((dest_url, range.start, false)),
            Event::Start(Tag::Image { dest_url, .. }) => Some((dest_url, range.start, true)),
            _ => None,
        })
        .filter_map(|(dest, offset, image)| {
            let target = dest.strip_prefix("@/")?;
            let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a.to_string())));
            let line = placement.body_line + line_of(body, offset) - 1;
            Some(InternalLink { file: file.to_string(), anchor, line, image })
        })
        .collect()
}

/// Every `@/` link whose target file does not exist, or whose `#anchor` is no heading id of
/// that file, with its file and line (only files linked to with an anchor get their ids found);
/// and, by target file, the files whose links reach it.
/// `sources` are the bodies to check, `all` every page and section.
fn check_internal_links(
    sources: &[&Placement],
    all: &[&Placement],
    internal_links: &HashMap<String, String>,
    config: &SiteConfig,
) -> (Vec<Problem>, HashMap<String, BTreeSet<String>>) {
    let found: Vec<Vec<InternalLink>> = sources.par_iter().map(|p| internal_links_in(p)).collect();
    let mut backlinks: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (placement, links) in sources.iter().zip(&found) {
        for link in links.iter().filter(|link| !link.image && link.file != placement.relative) {
            backlinks.entry(link.file.clone()).or_default().insert(placement.relative.clone());
        }
    }
    let by_file: HashMap<&str, &Placement> = all.iter().map(|p| (p.relative.as_str(), *p)).collect();
    let anchored: BTreeSet<&str> = found
        .iter()
        .flatten()
        .filter(|link| link.anchor.is_some())
        .filter_map(|link| by_file.get_key_value(link.file.as_str()).map(|(file, _)| *file))
        .collect();
    let settings = crate::render::markdown::MarkdownSettings {
        slugify_anchors: config.slugify.anchors.into(),
        ..Default::default()
    };
    let ids: HashMap<&str, std::collections::HashSet<String>> = anchored
        .into_par_iter()
        .map(|file| {
            let body = crate::render::shortcodes::without_calls(&by_file[file].body);
            (file, crate::render::markdown::heading_ids(&body, &settings).into_iter().collect())
        })
        .collect();
    let mut problems = Vec::new();
    for (placement, links) in sources.iter().zip(found) {
        for link in links {
            let message = match (internal_links.contains_key(&link.file), &link.anchor) {
                (false, _) => format!("internal link @/{} points to no content file", link.file),
                (true, Some(anchor)) if !ids.get(link.file.as_str()).is_some_and(|ids| ids.contains(anchor)) => {
                    format!(
                        "internal link @/{}#{anchor}: {} has no heading with the id `{anchor}`",
                        link.file, link.file
                    )
                }
                _ => continue,
            };
            problems.push(Problem::at(&placement.file, link.line, message));
        }
    }
    (problems, backlinks)
}

/// After the bodies of `edited` changed and nothing else did (the dev server, after an edit):
/// checks the links of those bodies, and of the bodies that link to them or to an anchor in
/// them, since an anchor may have gone; then brings every `backlinks` up to date. Returns the pages and sections whose
/// backlinks changed.
pub(crate) fn recheck_links(site: &mut ResolvedSite, edited: &[Content]) -> Result<Vec<Content>, Problems> {
    let edited_files: BTreeSet<String> = edited.iter().map(|&c| site.placement(c).relative.clone()).collect();
    let mut checked: BTreeSet<&str> = edited_files.iter().map(String::as_str).collect();
    for &content in edited {
        checked.extend(site.placement(content).backlinks.iter().map(String::as_str));
    }
    let all: Vec<&Placement> = site.placements().map(|(_, p)| p).collect();
    // Images are no backlinks, but an image's `@/file.md#anchor` may break too.
    let anchored: Vec<String> = edited_files.iter().map(|file| format!("@/{file}#")).collect();
    for placement in &all {
        if anchored.iter().any(|target| placement.body.contains(target.as_str())) {
            checked.insert(&placement.relative);
        }
    }
    let sources: Vec<&Placement> = all.iter().copied().filter(|p| checked.contains(p.relative.as_str())).collect();
    let (broken, found) = check_internal_links(&sources, &all, &site.internal_links, &site.config);
    if !broken.is_empty() {
        return Err(Problems::sorted(broken));
    }
    let mut changed = Vec::new();
    let contents: Vec<Content> = site.placements().map(|(content, _)| content).collect();
    for content in contents {
        let placement = site.placement_mut(content);
        let linked_by = found.get(&placement.relative);
        if linked_by.is_none() && !placement.backlinks.iter().any(|file| edited_files.contains(file)) {
            continue;
        }
        // The edited files link here as their new bodies say; everyone else as before.
        let mut backlinks: BTreeSet<String> =
            placement.backlinks.iter().filter(|file| !edited_files.contains(*file)).cloned().collect();
        backlinks.extend(linked_by.into_iter().flatten().filter(|file| edited_files.contains(*file)).cloned());
        let backlinks: Vec<String> = backlinks.into_iter().collect();
        if backlinks != placement.backlinks {
            placement.backlinks = backlinks;
            changed.push(content);
        }
    }
    Ok(changed)
}
