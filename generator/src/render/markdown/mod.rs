//! Markdown to HTML with pulldown-cmark, as Zola renders a page or section body: `@/` links
//! rewritten to permalinks, heading ids and anchor links, the table of contents, the summary
//! before `<!-- more -->`, external link attributes, bottom footnotes, word count and reading
//! time. One parse per document; the HTML is written while the events stream through.

mod emoji;
mod events;
mod footnotes;
mod headings;
pub mod highlight;
mod links;
mod reading;
mod summary;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use pulldown_cmark::{Options, Parser, html};
use serde::Deserialize;

pub use headings::{AnchorContext, Heading, default_anchor_link};
pub use summary::{CONTINUE_READING, SummaryCutoff, default_summary_cutoff};

/// The CommonMark extensions Zola always enables.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// What changes how a body renders: Zola's `[markdown]` switches, the section's
/// `insert_anchor_links` and `[slugify] anchors`. `Default` is Zola's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkdownSettings {
    pub smart_punctuation: bool,
    /// `:smile:` becomes 😄.
    pub render_emoji: bool,
    pub external_links_target_blank: bool,
    pub external_links_no_follow: bool,
    pub external_links_no_referrer: bool,
    /// A class for every external link, so a theme can mark them.
    pub external_links_class: Option<String>,
    pub definition_list: bool,
    pub bottom_footnotes: bool,
    pub github_alerts: bool,
    pub lazy_async_image: bool,
    pub insert_anchor_links: AnchorLinks,
    pub slugify_anchors: AnchorSlugs,
    /// `[markdown.highlighting]`: fenced blocks that name a language are highlighted; `None`
    /// (no table) leaves every block as CommonMark writes it.
    pub highlighting: Option<Arc<highlight::Highlighter>>,
}

impl MarkdownSettings {
    fn parser_options(&self) -> Options {
        let mut options = markdown_options();
        options.set(Options::ENABLE_SMART_PUNCTUATION, self.smart_punctuation);
        options.set(Options::ENABLE_DEFINITION_LIST, self.definition_list);
        // pulldown-cmark's GFM switch only adds the `> [!NOTE]` alerts.
        options.set(Options::ENABLE_GFM, self.github_alerts);
        options
    }

    fn tweaks_external_links(&self) -> bool {
        self.external_links_target_blank
            || self.external_links_no_follow
            || self.external_links_no_referrer
            || self.external_links_class.is_some()
    }
}

/// Where an anchor link goes in each heading (Zola's `insert_anchor_links`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorLinks {
    #[default]
    None,
    /// Before the heading's text.
    Left,
    /// After the heading's text.
    Right,
    /// The heading's text is the link.
    Heading,
}

/// How heading text becomes an id (Zola's `[slugify] anchors`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorSlugs {
    /// Lowercase ASCII words joined by `-`.
    #[default]
    On,
    /// Unicode kept; whitespace becomes `-` and characters unsafe in a URL fragment go.
    Safe,
    /// The text as written.
    Off,
}

/// The templates a body may call: Zola's `anchor-link.html` and `summary-cutoff.html`. The
/// provided methods are Zola's built-in markup; a site that overrides a template implements
/// that method with Tera.
pub trait Templates: Sync {
    fn anchor_link(&self, anchor: &AnchorContext) -> String {
        default_anchor_link(anchor)
    }

    fn summary_cutoff(&self, cutoff: &SummaryCutoff) -> String {
        default_summary_cutoff(cutoff)
    }
}

/// Zola's built-in templates only.
pub struct BuiltinTemplates;

impl Templates for BuiltinTemplates {}

/// A rendered body and what page views show about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The whole body, `<!-- more -->` replaced by [`CONTINUE_READING`].
    pub html: String,
    /// The HTML before `<!-- more -->`, its open tags closed; `None` without the marker.
    pub summary: Option<String>,
    /// Headings nested by level, as Zola's `page.toc`.
    pub toc: Vec<Heading>,
    /// Unicode words of the raw Markdown outside ``` fences.
    pub word_count: usize,
    /// Minutes at 200 words a minute, rounded up.
    pub reading_time: usize,
    /// Fence languages no grammar knows, in order; their blocks were highlighted as plain
    /// text. Zola fails the build on them under `error_on_missing_language`; that is the
    /// caller's to do, since rendering itself cannot fail.
    pub unknown_languages: Vec<String>,
}

/// What a body links to and where it will live.
pub struct Page<'a> {
    /// Content files (`blog/post.md`) to site paths (`/blog/post/`); resolve checked them all.
    pub internal_links: &'a HashMap<String, String>,
    pub base_url: &'a str,
    /// The page's own permalink, which the table of contents' links start with.
    pub permalink: &'a str,
    /// The word that stands for HTML shortcode output in the body (`shortcodes::expand`): it is
    /// no part of a heading's text, so it is left out of ids and the table of contents, as Zola
    /// leaves that output out.
    pub held_marker: Option<&'a str>,
}

/// Renders one body.
pub fn render(body: &str, page: &Page<'_>, settings: &MarkdownSettings, templates: &dyn Templates) -> Rendered {
    let parsed: Vec<_> = parse(body, settings).collect();
    let written = Cell::new(0);
    let mut stream = events::Stream::new(parsed, page, settings, templates, &written);
    let mut html = String::with_capacity(body.len() * 3 / 2);
    html::write_html_fmt(LengthReporting { out: &mut html, written: &written }, &mut stream)
        .expect("writing to a String cannot fail");
    let found = stream.finish();
    let word_count = reading::word_count(body);
    Rendered {
        summary: found.summary.map(|cut| cut.assemble(&html, templates)),
        html,
        toc: headings::nest(found.headings, page.permalink),
        word_count,
        reading_time: reading::reading_time(word_count),
        unknown_languages: found.unknown_languages,
    }
}

/// The ids [`render`] gives the body's headings, in order, without writing any HTML: what
/// `@/page.md#anchor` links are checked against.
pub fn heading_ids(body: &str, settings: &MarkdownSettings) -> Vec<String> {
    headings::ids(parse(body, settings), settings.slugify_anchors)
}

/// The body's events as every later step reads them: emoji already in place, so heading ids
/// and the anchors checked against them agree.
fn parse<'a>(body: &'a str, settings: &MarkdownSettings) -> Box<dyn Iterator<Item = pulldown_cmark::Event<'a>> + 'a> {
    let events = Parser::new_ext(body, settings.parser_options());
    if settings.render_emoji { Box::new(emoji::replace(events)) } else { Box::new(events) }
}

/// The body's HTML with Zola's default settings.
pub fn to_html(body: &str, internal_links: &HashMap<String, String>, base_url: &str) -> String {
    let page = Page { internal_links, base_url, permalink: "", held_marker: None };
    render(body, &page, &MarkdownSettings::default(), &BuiltinTemplates).html
}

/// A `fmt::Write` into the output that tells the event stream how much has been written, so
/// the summary can end exactly where `<!-- more -->` was without a second rendering.
struct LengthReporting<'a> {
    out: &'a mut String,
    written: &'a Cell<usize>,
}

impl std::fmt::Write for LengthReporting<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.out.push_str(s);
        self.written.set(self.out.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
