//! What templates see, named as Zola names it: pages, sections, taxonomy terms and pagers,
//! each turned into a template value once and shared by every render that shows it.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use campaigns::Campaign;
use num_format::{Locale, ToFormattedString};
use serde::Serialize;
use serde_json::{Map, Value};

use super::reads::{self, Content};
use crate::CampaignProgress;
use crate::resolve::{Placement, ResolvedPage, ResolvedSection, ResolvedSite, Taxonomy, Term};

/// The rendered bodies of every page and section, by index.
#[derive(Debug, Default)]
pub struct Bodies {
    pub pages: Vec<RenderedBody>,
    pub sections: Vec<RenderedBody>,
}

/// What Markdown rendering gave for one page or section.
#[derive(Debug, Clone, Default)]
pub struct RenderedBody {
    pub html: String,
    pub summary: Option<String>,
    pub toc: Value,
    pub word_count: usize,
    pub reading_time: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TranslationView<'a> {
    pub lang: &'a str,
    pub permalink: &'a str,
    pub path: &'a str,
    pub title: Option<&'a str>,
}

#[derive(Serialize)]
struct PageView<'a> {
    relative_path: &'a str,
    colocated_path: Option<&'a str>,
    content: &'a str,
    permalink: &'a str,
    slug: &'a str,
    ancestors: &'a [String],
    title: Option<&'a str>,
    description: Option<&'a str>,
    updated: Option<&'a str>,
    date: Option<&'a str>,
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    taxonomies: &'a std::collections::BTreeMap<String, Vec<String>>,
    authors: &'a [String],
    extra: Value,
    path: &'a str,
    components: Vec<&'a str>,
    summary: Option<&'a str>,
    toc: &'a Value,
    word_count: usize,
    reading_time: usize,
    assets: &'a [String],
    draft: bool,
    lang: &'a str,
    lower: Option<()>,
    higher: Option<()>,
    translations: Vec<TranslationView<'a>>,
    backlinks: Vec<Backlink<'a>>,
    weight: Option<i64>,
}

/// A page or section that links here, as Zola's `backlinks` lists it.
#[derive(Debug, Clone, Copy, Serialize)]
struct Backlink<'a> {
    permalink: &'a str,
    title: Option<&'a str>,
}

/// Every page's and section's [`Backlink`], by content file.
type Linkers<'a> = HashMap<&'a str, Backlink<'a>>;

fn linkers(site: &ResolvedSite) -> Linkers<'_> {
    let mut linkers: Linkers =
        site.pages.iter().map(|p| linker(&p.placement, p.front_matter.title.as_deref())).collect();
    linkers.extend(site.sections.iter().map(|s| linker(&s.placement, s.front_matter.title.as_deref())));
    linkers
}

fn linker<'a>(placement: &'a Placement, title: Option<&'a str>) -> (&'a str, Backlink<'a>) {
    (placement.relative.as_str(), Backlink { permalink: &placement.permalink, title })
}

/// The pages and sections that link to `placement`, in permalink order.
fn backlinks<'a>(placement: &Placement, linkers: &Linkers<'a>) -> Vec<Backlink<'a>> {
    let mut found: Vec<Backlink> =
        placement.backlinks.iter().filter_map(|file| linkers.get(file.as_str()).copied()).collect();
    found.sort_by(|a, b| a.permalink.cmp(b.permalink));
    found
}

#[derive(Serialize)]
struct SectionView<'a> {
    relative_path: &'a str,
    colocated_path: Option<&'a str>,
    content: &'a str,
    permalink: &'a str,
    draft: bool,
    ancestors: &'a [String],
    title: Option<&'a str>,
    description: Option<&'a str>,
    extra: Value,
    path: &'a str,
    components: Vec<&'a str>,
    toc: &'a Value,
    word_count: usize,
    reading_time: usize,
    lang: &'a str,
    assets: &'a [String],
    pages: [(); 0],
    /// `_index.md` paths of the direct subsections (fetch one with `get_section`).
    subsections: Vec<&'a str>,
    translations: Vec<TranslationView<'a>>,
    backlinks: Vec<Backlink<'a>>,
    generate_feeds: bool,
    transparent: bool,
    paginate_by: Option<usize>,
}

/// Names of a page value's fields.
pub type Fields = Arc<BTreeSet<String>>;

thread_local! {
    /// The fields of other pages the render on this thread may read, when its templates say.
    static SHOWN: RefCell<Option<Fields>> = const { RefCell::new(None) };
}

/// Runs `render` with the pages handed to it cut down to `fields` (whole with `None`): a page
/// listed in a big section is cloned into every render that lists it, and most read only its
/// title, link and date.
pub fn showing<T>(fields: Option<Fields>, render: impl FnOnce() -> T) -> T {
    let outer = SHOWN.with(|shown| shown.replace(fields));
    let result = render();
    SHOWN.with(|shown| shown.replace(outer));
    result
}

/// Every page and section as a template value, made once. A section's value holds no pages:
/// [`Views::section_with_pages`] adds them for the renders that show them. Each value handed
/// out is noted in [`reads`], so the dev server knows which files showed it.
pub struct Views {
    pages: Vec<Value>,
    sections: Vec<Value>,
}

impl Views {
    pub fn new(site: &ResolvedSite, bodies: &Bodies) -> Self {
        use rayon::prelude::*;
        let linkers = linkers(site);
        let pages = site
            .pages
            .par_iter()
            .zip(&bodies.pages)
            .map(|(page, body)| page_value(page, &site.pages, body, &linkers))
            .collect();
        let sections = site
            .sections
            .par_iter()
            .zip(&bodies.sections)
            .map(|(section, body)| section_value(section, &site.sections, body, &linkers))
            .collect();
        Self { pages, sections }
    }

    /// Makes the values of these pages and sections again, after their bodies or backlinks
    /// changed (the dev server, after an edit).
    pub fn refresh(&mut self, site: &ResolvedSite, bodies: &Bodies, changed: &[Content]) {
        let linkers = linkers(site);
        for &content in changed {
            match content {
                Content::Page(i) => self.pages[i] = page_value(&site.pages[i], &site.pages, &bodies.pages[i], &linkers),
                Content::Section(i) => {
                    self.sections[i] = section_value(&site.sections[i], &site.sections, &bodies.sections[i], &linkers)
                }
            }
        }
    }

    /// A page's value, with only the fields the render on this thread may read of it.
    pub fn page(&self, index: usize) -> Value {
        reads::note(Content::Page(index));
        SHOWN.with(|shown| match (&*shown.borrow(), &self.pages[index]) {
            // The permalink always: an empty map would test false in `{% if page.lower %}`.
            (Some(fields), Value::Object(all)) => Value::Object(
                all.iter()
                    .filter(|(name, _)| *name == "permalink" || fields.contains(*name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
            ),
            (_, value) => value.clone(),
        })
    }

    /// The render's own page with its neighbours: whole, since its template reads it by name.
    pub fn own_page(&self, page: &ResolvedPage, index: usize) -> Value {
        reads::note(Content::Page(index));
        self.with_neighbours(self.pages[index].clone(), page)
    }

    /// A section's value without its pages.
    pub fn section(&self, index: usize) -> Value {
        reads::note(Content::Section(index));
        self.sections[index].clone()
    }

    /// A page as its own template sees it: with its neighbours in the section.
    pub fn page_with_neighbours(&self, page: &ResolvedPage, index: usize) -> Value {
        self.with_neighbours(self.page(index), page)
    }

    fn with_neighbours(&self, mut value: Value, page: &ResolvedPage) -> Value {
        if let Some(object) = value.as_object_mut() {
            object.insert("lower".into(), page.lower.map_or(Value::Null, |i| self.page(i)));
            object.insert("higher".into(), page.higher.map_or(Value::Null, |i| self.page(i)));
        }
        value
    }

    /// A section with the values of its pages, as a section template or `get_section` shows it.
    pub fn section_with_pages(&self, section: &ResolvedSection, index: usize) -> Value {
        let mut value = self.section(index);
        if let Some(object) = value.as_object_mut() {
            object.insert("pages".into(), self.page_list(&section.pages));
        }
        value
    }

    pub fn page_list(&self, pages: &[usize]) -> Value {
        Value::Array(pages.iter().map(|&i| self.page(i)).collect())
    }

    /// A taxonomy term; its pages only when a template may read them (see `usage.rs`).
    pub fn term(&self, term: &Term, with_pages: bool) -> Value {
        let mut object = Map::new();
        object.insert("name".into(), term.name.clone().into());
        object.insert("slug".into(), term.slug.clone().into());
        object.insert("path".into(), term.path.clone().into());
        object.insert("permalink".into(), term.permalink.clone().into());
        object.insert("page_count".into(), term.pages.len().into());
        let pages = if with_pages { self.page_list(&term.pages) } else { Value::Array(Vec::new()) };
        object.insert("pages".into(), pages);
        Value::Object(object)
    }

    /// A taxonomy as `get_taxonomy` gives it: its config and every term with its pages.
    pub fn taxonomy(&self, taxonomy: &Taxonomy) -> Value {
        let mut object = Map::new();
        object.insert("kind".into(), serde_json::to_value(&taxonomy.config).unwrap_or_default());
        object.insert("lang".into(), taxonomy.config.lang.clone().into());
        object.insert("permalink".into(), taxonomy.permalink.clone().into());
        object.insert("items".into(), Value::Array(taxonomy.terms.iter().map(|t| self.term(t, true)).collect()));
        Value::Object(object)
    }
}

fn page_value(page: &ResolvedPage, pages: &[ResolvedPage], body: &RenderedBody, linkers: &Linkers) -> Value {
    let fm = &page.front_matter;
    let placement = &page.placement;
    let others = placement.translations.iter().map(|&i| (&pages[i].placement, pages[i].front_matter.title.as_deref()));
    let view = PageView {
        relative_path: &placement.relative,
        colocated_path: colocated_path(placement),
        content: &body.html,
        permalink: &placement.permalink,
        slug: &page.slug,
        ancestors: &placement.ancestors,
        title: fm.title.as_deref(),
        description: fm.description.as_deref(),
        updated: page.updated.as_ref().map(|d| d.text.as_str()),
        date: page.date.as_ref().map(|d| d.text.as_str()),
        year: page.date.as_ref().map(|d| d.year()),
        month: page.date.as_ref().map(|d| d.month()),
        day: page.date.as_ref().map(|d| d.day()),
        taxonomies: &fm.taxonomies,
        authors: &fm.authors,
        extra: json(&fm.extra),
        path: &placement.path,
        components: components(&placement.path),
        summary: body.summary.as_deref(),
        toc: &body.toc,
        word_count: body.word_count,
        reading_time: body.reading_time,
        assets: &placement.assets,
        draft: fm.draft,
        lang: &placement.lang,
        lower: None,
        higher: None,
        translations: translation_views((placement, fm.title.as_deref()), others),
        backlinks: backlinks(placement, linkers),
        weight: fm.weight,
    };
    serde_json::to_value(view).unwrap_or_default()
}

fn section_value(
    section: &ResolvedSection,
    sections: &[ResolvedSection],
    body: &RenderedBody,
    linkers: &Linkers,
) -> Value {
    let fm = &section.front_matter;
    let placement = &section.placement;
    let others =
        placement.translations.iter().map(|&i| (&sections[i].placement, sections[i].front_matter.title.as_deref()));
    let view = SectionView {
        relative_path: &placement.relative,
        colocated_path: colocated_path(placement),
        content: &body.html,
        permalink: &placement.permalink,
        draft: fm.draft,
        ancestors: &placement.ancestors,
        title: fm.title.as_deref(),
        description: fm.description.as_deref(),
        extra: json(&fm.extra),
        path: &placement.path,
        components: components(&placement.path),
        toc: &body.toc,
        word_count: body.word_count,
        reading_time: body.reading_time,
        lang: &placement.lang,
        assets: &placement.assets,
        pages: [],
        subsections: section.subsections.iter().map(|&i| sections[i].placement.relative.as_str()).collect(),
        translations: translation_views((placement, fm.title.as_deref()), others),
        backlinks: backlinks(placement, linkers),
        generate_feeds: fm.generate_feeds.unwrap_or(false),
        transparent: fm.transparent.unwrap_or(false),
        paginate_by: section.paginate_by(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

/// The folder of a page bundle or section, for its co-located files: `blog/post/`.
fn colocated_path(placement: &Placement) -> Option<&str> {
    let file = placement.relative.rsplit('/').next().unwrap_or("");
    let bundle = file.starts_with("index.") || file.starts_with("_index.");
    bundle.then(|| &placement.relative[..placement.relative.len() - file.len()])
}

/// `/blog/post/` → `["blog", "post"]`.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The content itself and its translations, sorted by language, as Zola lists them.
fn translation_views<'a>(
    itself: (&'a Placement, Option<&'a str>),
    others: impl Iterator<Item = (&'a Placement, Option<&'a str>)>,
) -> Vec<TranslationView<'a>> {
    let mut list: Vec<TranslationView> = std::iter::once(itself)
        .chain(others)
        .map(|(p, title)| TranslationView { lang: &p.lang, permalink: &p.permalink, path: &p.path, title })
        .collect();
    list.sort_by(|a, b| a.lang.cmp(b.lang));
    list
}

/// The `paginator` of one pager.
pub struct Pager<'a> {
    pub paginate_by: usize,
    /// The permalink of the first pager (the section or term itself).
    pub first: &'a str,
    /// `first` + the paginate path + `/`: add a number and `/` for any other pager.
    pub base_url: String,
    pub number_pagers: usize,
    /// 1-based.
    pub current_index: usize,
    pub total_pages: usize,
}

impl Pager<'_> {
    pub fn permalink(&self, index: usize) -> String {
        if index == 1 { self.first.to_string() } else { format!("{}{index}/", self.base_url) }
    }

    pub fn value(&self, pages: Value) -> Value {
        let mut object = Map::new();
        object.insert("paginate_by".into(), self.paginate_by.into());
        object.insert("base_url".into(), self.base_url.clone().into());
        object.insert("number_pagers".into(), self.number_pagers.into());
        object.insert("first".into(), self.first.into());
        object.insert("last".into(), self.permalink(self.number_pagers).into());
        let previous = (self.current_index > 1).then(|| self.permalink(self.current_index - 1));
        let next = (self.current_index < self.number_pagers).then(|| self.permalink(self.current_index + 1));
        object.insert("previous".into(), previous.into());
        object.insert("next".into(), next.into());
        object.insert("pages".into(), pages);
        object.insert("current_index".into(), self.current_index.into());
        object.insert("total_pages".into(), self.total_pages.into());
        Value::Object(object)
    }
}

/// A campaign with its progress as of the build, for the progress bar and the donate form.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    pub slug: String,
    pub currency: &'static str,
    pub currency_symbol: String,
    pub exponent: u8,
    pub goal_minor: i64,
    pub raised_minor: i64,
    pub donors: i64,
    /// Whole major units with digit grouping: `12,345`.
    pub goal: String,
    pub raised: String,
    pub percent: u8,
    pub suggested: Vec<AmountView>,
    /// In major units as a form field takes them (`1`, `10000`).
    pub min_amount: String,
    pub max_amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AmountView {
    pub minor: i64,
    /// What a person would type: `25`, `25.50`.
    pub amount: String,
}

impl CampaignView {
    pub fn new(campaign: &Campaign, progress: CampaignProgress) -> Self {
        let currency = campaign.currency;
        let whole = |minor: i64| (minor / 10_i64.pow(u32::from(currency.exponent()))).to_formatted_string(&Locale::en);
        let percent = if campaign.goal_minor > 0 {
            (progress.raised_minor.max(0).saturating_mul(100) / campaign.goal_minor).min(100) as u8
        } else {
            0
        };
        Self {
            slug: campaign.slug.clone(),
            currency: currency.code(),
            currency_symbol: currency.symbol(),
            exponent: currency.exponent(),
            goal_minor: campaign.goal_minor,
            raised_minor: progress.raised_minor,
            donors: progress.donors,
            goal: whole(campaign.goal_minor),
            raised: whole(progress.raised_minor),
            percent,
            suggested: campaign
                .suggested_minor
                .iter()
                .map(|&minor| AmountView { minor, amount: currency.format_major(minor) })
                .collect(),
            min_amount: currency.format_major(campaign.min_minor),
            max_amount: currency.format_major(campaign.max_minor),
        }
    }
}

/// TOML from front matter or config as the JSON value Tera works with.
fn json(table: &toml::Table) -> serde_json::Value {
    serde_json::to_value(table).unwrap_or_default()
}
