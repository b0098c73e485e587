//! Heading ids (slugged text, made unique; an explicit `{#id}` wins), the anchor-link markup
//! and the nested table of contents.

use std::collections::HashSet;

use pulldown_cmark::{Event, Tag, TagEnd};
use pulldown_cmark_escape::escape_html;
use serde::Serialize;

use super::AnchorSlugs;

/// One entry of the table of contents (Zola's `page.toc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heading {
    pub level: u32,
    pub id: String,
    /// The page's permalink and `#id`.
    pub permalink: String,
    /// The heading's text without its tags, as Zola's table of contents shows it.
    pub title: String,
    /// The headings of a deeper level that follow, up to the next heading of this level or
    /// a higher one.
    pub children: Vec<Heading>,
}

/// What `anchor-link.html` is rendered with, besides what the caller knows (language, page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AnchorContext<'a> {
    pub id: &'a str,
    pub level: u32,
}

/// Zola's built-in `anchor-link.html`.
pub fn default_anchor_link(anchor: &AnchorContext) -> String {
    let mut id = String::with_capacity(anchor.id.len());
    escape_html(&mut id, anchor.id).expect("writing to a String cannot fail");
    format!(r##"<a class="zola-anchor" href="#{id}" aria-label="Anchor link for: {id}">🔗</a>"##)
}

/// The opening `<a …>` of an anchor link, which `insert_anchor_links = "heading"` wraps the
/// heading's text in (Zola uses only that much of the template there).
pub(super) fn opening_tag(anchor_link: &str) -> Option<&str> {
    let start = anchor_link.find("<a")?;
    let end = start + anchor_link[start..].find('>')?;
    Some(&anchor_link[start..=end])
}

/// A heading as the stream met it, before nesting.
pub(super) struct FlatHeading {
    pub level: u32,
    pub id: String,
    pub title: String,
}

/// Hands out heading ids, each once per document.
pub(super) struct AnchorIds {
    taken: HashSet<String>,
    slugs: AnchorSlugs,
}

impl AnchorIds {
    /// Explicit ids are reserved first, so that a generated id never takes one that a later
    /// heading names.
    pub fn new(slugs: AnchorSlugs, explicit: impl IntoIterator<Item = String>) -> Self {
        Self { taken: explicit.into_iter().collect(), slugs }
    }

    /// The heading's id: its explicit id as written, else its slugged text, suffixed `-1`,
    /// `-2`… when an earlier heading already has it.
    pub fn assign(&mut self, explicit: Option<&str>, title: &str) -> String {
        if let Some(id) = explicit {
            return id.to_string();
        }
        let base = slug(title, self.slugs);
        let mut id = base.clone();
        let mut n = 0;
        while self.taken.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        self.taken.insert(id.clone());
        id
    }
}

/// Characters the `safe` strategy removes, as Zola documents it.
const UNSAFE_IN_ANCHORS: &[char] = &['#', '%', '<', '>', '[', ']', '(', ')', '`', '^', '{', '|', '}'];

fn slug(text: &str, slugs: AnchorSlugs) -> String {
    match slugs {
        AnchorSlugs::On => slug::slugify(text),
        AnchorSlugs::Safe => text
            .chars()
            .filter(|c| !UNSAFE_IN_ANCHORS.contains(c))
            .map(|c| if c.is_whitespace() { '-' } else { c })
            .collect(),
        AnchorSlugs::Off => text.to_string(),
    }
}

/// The heading ids of a parsed body, as the render stream assigns them.
pub(super) fn ids<'a>(events: impl Iterator<Item = Event<'a>>, slugs: AnchorSlugs) -> Vec<String> {
    let mut found: Vec<(Option<String>, String)> = Vec::new();
    let mut title = HeadingText::default();
    for event in events {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                title = HeadingText::started();
                found.push((id.map(|id| id.to_string()), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(last) = found.last_mut() {
                    last.1 = std::mem::take(&mut title.text);
                }
                title.inside = false;
            }
            other => title.observe(&other),
        }
    }
    let mut ids = AnchorIds::new(slugs, found.iter().filter_map(|(id, _)| id.clone()));
    found.iter().map(|(explicit, text)| ids.assign(explicit.as_deref(), text)).collect()
}

/// Collects a heading's text: its text and code spans, not an image's alternative text.
#[derive(Default)]
pub(super) struct HeadingText {
    pub inside: bool,
    pub text: String,
    images: usize,
}

impl HeadingText {
    /// Collecting from the start of a heading.
    pub fn started() -> Self {
        Self { inside: true, ..Self::default() }
    }

    pub fn observe(&mut self, event: &Event<'_>) {
        if !self.inside {
            return;
        }
        match event {
            Event::Start(Tag::Image { .. }) => self.images += 1,
            Event::End(TagEnd::Image) => self.images = self.images.saturating_sub(1),
            Event::Text(text) | Event::Code(text) if self.images == 0 => self.text.push_str(text),
            _ => {}
        }
    }
}

/// Nests headings: each takes the following deeper ones as children, so disjoint levels
/// (an `h3` straight under an `h1`, or an `h2` before any `h1`) still nest sensibly.
pub(super) fn nest(flat: Vec<FlatHeading>, permalink: &str) -> Vec<Heading> {
    let mut flat = flat.into_iter().peekable();
    children_deeper_than(0, &mut flat, permalink)
}

fn children_deeper_than(
    level: u32,
    flat: &mut std::iter::Peekable<std::vec::IntoIter<FlatHeading>>,
    permalink: &str,
) -> Vec<Heading> {
    let mut children = Vec::new();
    while let Some(heading) = flat.next_if(|h| h.level > level) {
        let grandchildren = children_deeper_than(heading.level, flat, permalink);
        children.push(Heading {
            level: heading.level,
            permalink: format!("{permalink}#{}", heading.id),
            id: heading.id,
            title: heading.title,
            children: grandchildren,
        });
    }
    children
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(levels: &[u32]) -> Vec<FlatHeading> {
        levels
            .iter()
            .enumerate()
            .map(|(i, &level)| FlatHeading { level, id: format!("h{i}"), title: String::new() })
            .collect()
    }

    /// The toc as `id(children…)` for compact assertions.
    fn shape(toc: &[Heading]) -> String {
        toc.iter()
            .map(|h| if h.children.is_empty() { h.id.clone() } else { format!("{}({})", h.id, shape(&h.children)) })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn headings_nest_under_the_previous_shallower_heading() {
        assert_eq!(shape(&nest(flat(&[1, 2, 3, 2, 1, 2]), "")), "h0(h1(h2) h3) h4(h5)");
    }

    #[test]
    fn disjoint_levels_nest_by_order_not_by_exact_level() {
        assert_eq!(shape(&nest(flat(&[2, 1, 3, 4, 3]), "")), "h0 h1(h2(h3) h4)");
    }

    #[test]
    fn each_strategy_slugs_as_zola_documents() {
        assert_eq!(slug("Héllo, World: 2!", AnchorSlugs::On), "hello-world-2");
        assert_eq!(slug("日本 (語) <b>#1", AnchorSlugs::Safe), "日本-語-b1");
        assert_eq!(slug("As Is?", AnchorSlugs::Off), "As Is?");
    }

    #[test]
    fn generated_ids_avoid_taken_ones_and_explicit_ids_are_kept() {
        let mut ids = AnchorIds::new(AnchorSlugs::On, ["intro".to_string()]);
        assert_eq!(ids.assign(None, "Intro"), "intro-1");
        assert_eq!(ids.assign(None, "Intro"), "intro-2");
        assert_eq!(ids.assign(Some("intro"), "anything"), "intro");
    }

    #[test]
    fn the_opening_tag_is_what_precedes_the_first_closing_bracket() {
        assert_eq!(opening_tag(r##"x <a href="#a">🔗</a>"##), Some(r##"<a href="#a">"##));
        assert_eq!(opening_tag("no link"), None);
    }
}
