//! Atom and RSS feeds, as Zola makes them: one per language when `generate_feeds` is on, one
//! per section whose front matter asks (`generate_feeds = true`), one per term of a taxonomy
//! with `feed = true`; each with the dated pages newest first, at most `feed_limit`, through
//! the site's `atom.xml` / `rss.xml` template or the built-in one.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::resolve::ResolvedSite;
use crate::resolve::sorting::{SortBy, sort};

/// What a feed covers.
#[derive(Debug, Clone, Copy)]
pub enum FeedScope {
    Language,
    Section(usize),
    Term { taxonomy: usize, term: usize },
}

/// One feed file to render.
#[derive(Debug, Clone)]
pub struct Feed {
    pub scope: FeedScope,
    /// `atom.xml`, `rss.xml`: the output name and the template's.
    pub filename: String,
    /// Site path of the file: `/atom.xml`, `/fr/blog/rss.xml`.
    pub path: String,
    pub lang: String,
    /// Indices into the site's pages: dated, newest first, limited.
    pub pages: Vec<usize>,
}

/// Built-in templates, used when the site and theme have none of that name.
pub const BUILTIN_ATOM: &str = include_str!("feeds/atom.xml");
pub const BUILTIN_RSS: &str = include_str!("feeds/rss.xml");

/// Every feed the config and front matter ask for.
pub fn feeds(site: &ResolvedSite) -> Vec<Feed> {
    let config = &site.config;
    let limit = config.feed_limit.unwrap_or(usize::MAX);
    // The date order leaves undated pages out, as feeds do.
    let dated_newest_first = |members: &mut Vec<usize>| {
        sort(members, &site.pages, SortBy::Date);
        members.truncate(limit);
    };
    let mut feeds = Vec::new();
    for lang in config.all_languages() {
        if !config.generates_feeds(lang) {
            continue;
        }
        let mut pages: Vec<usize> = (0..site.pages.len()).filter(|&i| site.pages[i].placement.lang == lang).collect();
        dated_newest_first(&mut pages);
        for filename in config.feed_filenames_of(lang) {
            let path = format!("{}/{filename}", config.language_prefix(lang));
            feeds.push(Feed {
                scope: FeedScope::Language,
                filename: filename.clone(),
                path,
                lang: lang.to_string(),
                pages: pages.clone(),
            });
        }
    }
    for (index, section) in site.sections.iter().enumerate() {
        if section.front_matter.generate_feeds != Some(true) {
            continue;
        }
        let mut pages = section.pages.clone();
        dated_newest_first(&mut pages);
        for filename in config.feed_filenames_of(&section.placement.lang) {
            let path = format!("{}{filename}", section.placement.path);
            let lang = section.placement.lang.clone();
            feeds.push(Feed {
                scope: FeedScope::Section(index),
                filename: filename.clone(),
                path,
                lang,
                pages: pages.clone(),
            });
        }
    }
    for (taxonomy_index, taxonomy) in site.taxonomies.iter().enumerate() {
        if !taxonomy.config.feed || !taxonomy.config.render {
            continue;
        }
        for (term_index, term) in taxonomy.terms.iter().enumerate() {
            let mut pages = term.pages.clone();
            dated_newest_first(&mut pages);
            for filename in config.feed_filenames_of(&taxonomy.config.lang) {
                let path = format!("{}{filename}", term.path);
                let scope = FeedScope::Term { taxonomy: taxonomy_index, term: term_index };
                feeds.push(Feed {
                    scope,
                    filename: filename.clone(),
                    path,
                    lang: taxonomy.config.lang.clone(),
                    pages: pages.clone(),
                });
            }
        }
    }
    feeds
}

/// A date as feeds write it (RFC 3339 for Atom, RFC 2822 for RSS), taken as UTC.
pub fn feed_dates(at: NaiveDateTime) -> (String, String) {
    let at: DateTime<Utc> = at.and_utc();
    (at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), at.to_rfc2822())
}
