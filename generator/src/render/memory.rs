//! What the dev server keeps of a render, so that an edit to the body of a page or section
//! re-renders that body and only the files that showed it, instead of the whole site.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::feeds::Feed;
use super::markdown::highlight::Highlighter;
use super::views::{Bodies, Views};
use super::{Content, Job, OutputFile, RenderedSite, Shared, search, shows_bodies};
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

impl RenderMemory {
    /// Takes in edited content files and gives back the files that change, or `None` when the
    /// edits need a full build: a file it does not know, a changed front matter (which can move
    /// pages between pagers, terms and feeds), or other campaign totals. On `Err` the memory
    /// may hold half an update: drop it and build in full.
    pub fn update(
        &mut self,
        edits: Vec<LoadedContent>,
        progress: &BTreeMap<String, CampaignProgress>,
    ) -> Result<Option<RenderedSite>, Problems> {
        if *progress != self.progress {
            return Ok(None);
        }
        let mut edited = Vec::with_capacity(edits.len());
        for edit in &edits {
            match self.body_only(edit) {
                Some(content) => edited.push(content),
                None => return Ok(None),
            }
        }
        let (Some(site), Some(views)) = (Arc::get_mut(&mut self.site), Arc::get_mut(&mut self.views)) else {
            return Ok(None);
        };
        for (&content, edit) in edited.iter().zip(edits) {
            let placement = site.placement_mut(content);
            placement.body = edit.body;
            placement.body_line = edit.body_line;
        }
        let mut changed = resolve::recheck_links(site, &edited)?;

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
        changed.extend(&edited);
        changed.sort_unstable();
        changed.dedup();
        views.refresh(site, &self.bodies, &changed);

        let mut files = BTreeMap::new();
        let indexes = search::indexes(&self.site, &self.bodies.pages, &self.bodies.sections)
            .map_err(|problem| Problems::sorted(vec![problem]))?;
        files.extend(indexes.into_iter().map(|(path, index)| (path, OutputFile::Bytes(index))));

        // A file that showed changed content renders again if that is its own page or section,
        // or if its template may show what an edit to a body changes of other content.
        let mut shows_other_bodies: HashMap<(String, Option<&str>), bool> = HashMap::new();
        let affected: Vec<usize> = (0..self.jobs.len())
            .filter(|&i| {
                let (job, read) = &self.jobs[i];
                if !read.iter().any(|content| changed.binary_search(content).is_ok()) {
                    return false;
                }
                let own = job.own();
                if own.is_some_and(|(content, _)| changed.binary_search(&content).is_ok()) {
                    return true;
                }
                let template = job.template(&self.site, &self.site.templates, &self.feeds);
                let own_name = own.map(|(_, name)| name);
                *shows_other_bodies.entry((template, own_name)).or_insert_with_key(|(template, own_name)| {
                    shows_bodies::may_show_other_bodies(&self.site.templates, template, *own_name)
                })
            })
            .collect();
        let jobs: Vec<&Job> = affected.iter().map(|&i| &self.jobs[i].0).collect();
        let rendered = shared.render_jobs(&self.site, &self.views, &self.feeds, progress, &jobs, true)?;
        for (&i, (file, read)) in affected.iter().zip(rendered) {
            self.jobs[i].1 = read;
            files.extend(file);
        }
        files.extend(shared.take_resized_images());
        Ok(Some(RenderedSite { files, sitemap: Vec::new(), redirects: Vec::new() }))
    }

    /// Whether `file` is one the site was built from: content, co-located asset or static file.
    pub fn knows(&self, file: &Path) -> bool {
        let site = &self.site;
        site.placements().any(|(_, placement)| placement.file == file)
            || site.assets.iter().chain(&site.static_files).any(|asset| asset.source == file)
    }

    /// The page or section `edit` is a new version of, if only its body changed.
    fn body_only(&self, edit: &LoadedContent) -> Option<Content> {
        match &edit.kind {
            ContentKind::Page(front_matter) => {
                let index = self.site.pages.iter().position(|p| p.placement.relative == edit.relative)?;
                (self.site.pages[index].front_matter == **front_matter).then_some(Content::Page(index))
            }
            ContentKind::Section(front_matter) => {
                let index = self.site.sections.iter().position(|s| s.placement.relative == edit.relative)?;
                (self.site.sections[index].front_matter == **front_matter).then_some(Content::Section(index))
            }
        }
    }
}
