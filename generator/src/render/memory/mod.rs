//! What the dev server keeps of a render, so that an edit to a page or section re-renders its
//! body and only the files that show what changed, instead of the whole site.

mod shown_only;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::feeds::Feed;
use super::markdown::highlight::Highlighter;
use super::others_read::{self, BODY_FIELDS, OthersRead};
use super::views::{Bodies, Views};
use super::{Content, Job, OutputFile, RenderedSite, Shared, search};
use crate::CampaignProgress;
use crate::load::{ContentKind, LoadedContent};
use crate::problem::Problems;
use crate::resolve::{self, ResolvedSite};

pub struct RenderMemory {
    pub(super) site: Arc<ResolvedSite>,
    pub(super) views: Arc<Views>,
    pub(super) bodies: Bodies,
    pub(super) feeds: Vec<Feed>,
    pub(super) highlighter: Option<Arc<Highlighter>>,
    pub(super) progress: BTreeMap<String, CampaignProgress>,
    /// Every file rendered through a template, with the pages and sections it showed.
    pub(super) jobs: Vec<(Job, Vec<Content>)>,
}

/// What changed of each page or section an update touched: the fields of its template value.
type Changes = BTreeMap<Content, BTreeSet<&'static str>>;

impl RenderMemory {
    /// Takes in edited content files and gives back the files that change, or `None` when the
    /// edits need a full build: a file it does not know, a front-matter change that may move
    /// pages (between pagers, terms and feeds, or in an order), or other campaign totals. On
    /// `Err` the memory may hold half an update: drop it and build in full.
    pub fn update(
        &mut self,
        edits: Vec<LoadedContent>,
        progress: &BTreeMap<String, CampaignProgress>,
    ) -> Result<Option<RenderedSite>, Problems> {
        if *progress != self.progress {
            return Ok(None);
        }
        let mut edited = Vec::with_capacity(edits.len());
        let mut changes = Changes::new();
        for edit in &edits {
            let Some((content, fields)) = self.edit_of(edit) else { return Ok(None) };
            edited.push(content);
            changes.entry(content).or_default().extend(BODY_FIELDS.iter().chain(&fields));
        }
        let (Some(site), Some(views)) = (Arc::get_mut(&mut self.site), Arc::get_mut(&mut self.views)) else {
            return Ok(None);
        };
        for (&content, edit) in edited.iter().zip(edits) {
            match (content, edit.kind) {
                (Content::Page(i), ContentKind::Page(front_matter)) => site.pages[i].front_matter = *front_matter,
                (Content::Section(i), ContentKind::Section(front_matter)) => {
                    site.sections[i].front_matter = *front_matter
                }
                _ => return Ok(None),
            }
            let placement = site.placement_mut(content);
            placement.body = edit.body;
            placement.body_line = edit.body_line;
        }
        for content in resolve::recheck_links(site, &edited)? {
            changes.entry(content).or_default().insert("backlinks");
        }
        // A title is also shown by the translations' `translations` and the linked pages'
        // `backlinks`.
        let retitled: Vec<Content> =
            edited.iter().copied().filter(|content| changes[content].contains("title")).collect();
        for content in retitled {
            let placement = site.placement(content);
            let translations: Vec<Content> = placement
                .translations
                .iter()
                .map(|&i| if matches!(content, Content::Page(_)) { Content::Page(i) } else { Content::Section(i) })
                .collect();
            let relative = placement.relative.clone();
            let linked: Vec<Content> =
                site.placements().filter(|(_, p)| p.backlinks.contains(&relative)).map(|(c, _)| c).collect();
            // The page's own list of translations holds it too.
            for other in translations.into_iter().chain([content]) {
                changes.entry(other).or_default().insert("translations");
            }
            for other in linked {
                changes.entry(other).or_default().insert("backlinks");
            }
        }

        let shared = Shared::new(site, self.highlighter.clone())?;
        let mut problems = Vec::new();
        for (&content, rendered) in edited.iter().zip(shared.bodies(site, &edited)) {
            match (content, rendered) {
                (Content::Page(i), Ok(body)) => self.bodies.pages[i] = body,
                (Content::Section(i), Ok(body)) => self.bodies.sections[i] = body,
                (_, Err(problem)) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(Problems::sorted(problems));
        }
        let changed: Vec<Content> = changes.keys().copied().collect();
        views.refresh(site, &self.bodies, &changed);

        let mut files = BTreeMap::new();
        let indexes = search::indexes(&self.site, &self.bodies.pages, &self.bodies.sections)
            .map_err(|problem| Problems::sorted(vec![problem]))?;
        files.extend(indexes.into_iter().map(|(path, index)| (path, OutputFile::Bytes(index))));

        let affected = self.affected_jobs(&changes);
        let jobs: Vec<&Job> = affected.iter().map(|&i| &self.jobs[i].0).collect();
        let rendered = shared.render_jobs(&self.site, &self.views, &self.feeds, progress, &jobs, true)?;
        for (&i, (file, read)) in affected.iter().zip(rendered) {
            self.jobs[i].1 = read;
            files.extend(file);
        }
        files.extend(shared.take_resized_images());
        Ok(Some(RenderedSite { files, sitemap: Vec::new(), redirects: Vec::new() }))
    }

    /// The jobs to render again: a file that showed changed content renders again if that is
    /// its own page or section, or if its template may show a changed field of other content.
    fn affected_jobs(&self, changes: &Changes) -> Vec<usize> {
        let mut reads: HashMap<(String, Option<&str>), OthersRead> = HashMap::new();
        (0..self.jobs.len())
            .filter(|&i| {
                let (job, read) = &self.jobs[i];
                let own = job.own();
                read.iter().filter_map(|content| changes.get_key_value(content)).any(|(content, fields)| {
                    if own.is_some_and(|(own, _)| own == *content) {
                        return true;
                    }
                    let template = job.template(&self.site, &self.site.templates, &self.feeds);
                    let own_name = own.map(|(_, name)| name);
                    let fields: Vec<&str> = fields.iter().copied().collect();
                    reads
                        .entry((template, own_name))
                        .or_insert_with_key(|(template, own_name)| {
                            others_read::others_read(&self.site.templates, template, *own_name)
                        })
                        .any_of(&fields)
                })
            })
            .collect()
    }

    /// Whether `file` is one the site was built from: content, co-located asset or static file.
    pub fn knows(&self, file: &Path) -> bool {
        let site = &self.site;
        site.placements().any(|(_, placement)| placement.file == file)
            || site.assets.iter().chain(&site.static_files).any(|asset| asset.source == file)
    }

    /// The page or section `edit` is a new version of, with the fields of its template value
    /// that its front matter changes; `None` if it is new, or its front matter changes more
    /// than what the page shows (see [`shown_only`]).
    fn edit_of(&self, edit: &LoadedContent) -> Option<(Content, Vec<&'static str>)> {
        let site = &self.site;
        match &edit.kind {
            ContentKind::Page(new) => {
                let index = site.pages.iter().position(|p| p.placement.relative == edit.relative)?;
                let sorted_by_title = site
                    .sections
                    .iter()
                    .any(|s| s.front_matter.sort_by.as_deref().is_some_and(|by| by.starts_with("title")));
                shown_only::page(&site.pages[index].front_matter, new, sorted_by_title)
                    .map(|f| (Content::Page(index), f))
            }
            ContentKind::Section(new) => {
                let index = site.sections.iter().position(|s| s.placement.relative == edit.relative)?;
                shown_only::section(&site.sections[index].front_matter, new).map(|f| (Content::Section(index), f))
            }
        }
    }
}
