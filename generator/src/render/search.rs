//! The search index Zola writes with `build_search_index = true`: one file per language that
//! asks, `search_index.<lang>.js` (`window.searchIndex = …`) or `.json`, in elasticlunr's
//! format (elasticlunr-rs, the library Zola uses) or Fuse.js's plain list.
//!
//! Every section and page of the language is a document unless its front matter says
//! `in_search_index = false`; a section that redirects is left out, its pages are not.

use lol_html::{HtmlRewriter, Settings, doc_comments, element};
use serde::Serialize;

use super::views::RenderedBody;
use crate::config::{IndexFormat, SearchConfig};
use crate::problem::Problem;
use crate::resolve::ResolvedSite;

/// One page or section as the index sees it.
struct Document<'a> {
    permalink: &'a str,
    title: Option<&'a str>,
    description: Option<&'a str>,
    /// RFC 3339, pages only.
    date: Option<String>,
    path: &'a str,
    html: &'a str,
}

/// The index files of every language that asks for one, by output path.
pub fn indexes(
    site: &ResolvedSite,
    page_bodies: &[RenderedBody],
    section_bodies: &[RenderedBody],
) -> Result<Vec<(String, Vec<u8>)>, Problem> {
    let config = &site.config;
    if !config.build_search_index {
        return Ok(Vec::new());
    }
    let mut languages = vec![(config.default_language.as_str(), &config.search)];
    for (code, language) in &config.languages {
        if *code != config.default_language && language.build_search_index == Some(true) {
            languages.push((code.as_str(), language.search.as_ref().unwrap_or(&config.search)));
        }
    }
    let mut files = Vec::new();
    for (lang, search) in languages {
        let documents = documents(site, lang, page_bodies, section_bodies);
        // Fuse reads the site-wide `[search]`, as in Zola; elasticlunr the language's own.
        let index = match config.search.index_format {
            IndexFormat::ElasticlunrJavascript | IndexFormat::ElasticlunrJson => {
                elasticlunr_index(lang, search, &documents)
                    .map_err(|message| Problem::in_file(&site.paths.config, message))?
            }
            IndexFormat::FuseJavascript | IndexFormat::FuseJson => fuse_index(&config.search, &documents),
        };
        let (name, content) = match config.search.index_format {
            IndexFormat::ElasticlunrJson | IndexFormat::FuseJson => (format!("search_index.{lang}.json"), index),
            IndexFormat::ElasticlunrJavascript | IndexFormat::FuseJavascript => {
                (format!("search_index.{lang}.js"), format!("window.searchIndex = {index}"))
            }
        };
        files.push((name, content.into_bytes()));
    }
    Ok(files)
}

/// The language's sections in site order, each followed by its pages; a page that two sections
/// list (a transparent section's) is indexed once.
fn documents<'a>(
    site: &'a ResolvedSite,
    lang: &str,
    page_bodies: &'a [RenderedBody],
    section_bodies: &'a [RenderedBody],
) -> Vec<Document<'a>> {
    let mut documents = Vec::new();
    // A transparent section's pages are in its parent's list too: index each page once.
    let mut indexed = std::collections::HashSet::new();
    for (index, section) in site.sections.iter().enumerate() {
        let front = &section.front_matter;
        if section.placement.lang != lang || front.in_search_index == Some(false) {
            continue;
        }
        if front.redirect_to.is_none() {
            documents.push(Document {
                permalink: &section.placement.permalink,
                title: front.title.as_deref(),
                description: front.description.as_deref(),
                date: None,
                path: &section.placement.path,
                html: &section_bodies[index].html,
            });
        }
        for &page_index in &section.pages {
            let page = &site.pages[page_index];
            if page.front_matter.in_search_index == Some(false) || !indexed.insert(page_index) {
                continue;
            }
            documents.push(Document {
                permalink: &page.placement.permalink,
                title: page.front_matter.title.as_deref(),
                description: page.front_matter.description.as_deref(),
                date: page.date.as_ref().map(|date| date.at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                path: &page.placement.path,
                html: &page_bodies[page_index].html,
            });
        }
    }
    documents
}

fn elasticlunr_index(lang: &str, search: &SearchConfig, documents: &[Document]) -> Result<String, String> {
    let language = elasticlunr::lang::from_code(lang)
        .ok_or_else(|| format!("build_search_index: the search index cannot be built for language `{lang}`"))?;
    let mut builder = elasticlunr::IndexBuilder::with_language(language);
    let fields = [
        (search.include_title, "title"),
        (search.include_description, "description"),
        (search.include_date, "date"),
        (search.include_path, "path"),
        (search.include_content, "body"),
    ];
    for (_, field) in fields.iter().filter(|(included, _)| *included) {
        builder = match *field {
            // `/blog/rust-tips/` is found by `rust` and `tips`.
            "path" => builder.add_field_with_tokenizer(field, Box::new(path_words)),
            _ => builder.add_field(field),
        };
    }
    let mut index = builder.build();
    for document in documents {
        let mut values = Vec::new();
        if search.include_title {
            values.push(document.title.unwrap_or_default().to_owned());
        }
        if search.include_description {
            values.push(document.description.unwrap_or_default().to_owned());
        }
        if search.include_date {
            values.push(document.date.clone().unwrap_or_default());
        }
        if search.include_path {
            values.push(document.path.to_owned());
        }
        if search.include_content {
            values.push(truncated(&plain_lines(document.html), search.truncate_content_length));
        }
        index.add_doc(document.permalink, values);
    }
    Ok(index.to_json())
}

fn path_words(path: &str) -> Vec<String> {
    path.split(|c: char| c.is_whitespace() || c == '-' || c == '/')
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Fuse.js's documents: every field present, `null` where `[search]` leaves it out.
fn fuse_index(search: &SearchConfig, documents: &[Document]) -> String {
    #[derive(Serialize)]
    struct Item<'a> {
        url: &'a str,
        title: Option<&'a str>,
        description: Option<&'a str>,
        body: Option<String>,
        path: Option<&'a str>,
    }
    let items: Vec<Item> = documents
        .iter()
        .map(|document| Item {
            url: document.permalink,
            title: search.include_title.then(|| document.title.unwrap_or_default()),
            description: search.include_description.then(|| document.description.unwrap_or_default()),
            body: search.include_content.then(|| text_of(document.html)),
            path: search.include_path.then_some(document.path),
        })
        .collect();
    serde_json::to_string(&items).expect("strings always serialise")
}

/// The text of a body: tags and comments dropped, and scripts, style sheets and code blocks
/// with their contents (they are not prose to search).
fn text_of(html: &str) -> String {
    let mut text = Vec::with_capacity(html.len());
    let settings = Settings {
        element_content_handlers: vec![
            element!("script, style, pre", |element| {
                element.remove();
                Ok(())
            }),
            element!("*", |element| {
                element.remove_and_keep_content();
                Ok(())
            }),
        ],
        document_content_handlers: vec![doc_comments!(|comment| {
            comment.remove();
            Ok(())
        })],
        ..Settings::new()
    };
    let mut rewriter = HtmlRewriter::new(settings, |chunk: &[u8]| text.extend_from_slice(chunk));
    // The body is our own renderer's HTML; a rewriter error would be a bug, and the raw body
    // is still a usable (if noisier) text to search.
    if rewriter.write(html.as_bytes()).and_then(|()| rewriter.end()).is_err() {
        return html.to_owned();
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// [`text_of`] with each line's runs of white space made one space and blank lines dropped.
fn plain_lines(html: &str) -> String {
    let text = text_of(html);
    let lines: Vec<String> = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("\n")
}

/// At most `length` characters, when `[search] truncate_content_length` asks.
fn truncated(text: &str, length: Option<usize>) -> String {
    match length.and_then(|length| text.char_indices().nth(length)) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_their_prose() {
        let html = "<h2 id=\"a\">Why</h2>\n<p>Clean <em>water</em>   for\tall</p>\n\n<pre><code>let x = 1;</code></pre>\n<!-- note --><script>alert(1)</script>\n";
        assert_eq!(plain_lines(html), "Why\nClean water for all");
        assert!(!text_of(html).contains("let x") && !text_of(html).contains("note"));
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncated("héllo", Some(2)), "hé");
        assert_eq!(truncated("hi", Some(10)), "hi");
        assert_eq!(truncated("hi", None), "hi");
    }

    #[test]
    fn fuse_documents_carry_every_field_with_nulls_for_the_ones_left_out() {
        let document = Document {
            permalink: "https://x.org/a/",
            title: Some("A"),
            description: None,
            date: None,
            path: "/a/",
            html: "<p>Hi <b>there</b></p>",
        };
        let search = SearchConfig { include_path: true, ..SearchConfig::default() };
        assert_eq!(
            fuse_index(&search, &[document]),
            r#"[{"url":"https://x.org/a/","title":"A","description":null,"body":"Hi there","path":"/a/"}]"#
        );
    }

    #[test]
    fn an_unknown_language_is_an_error_that_names_it() {
        let error = elasticlunr_index("xx", &SearchConfig::default(), &[]).unwrap_err();
        assert!(error.contains("`xx`"), "{error}");
    }

    #[test]
    fn paths_are_split_into_words() {
        assert_eq!(path_words("/blog/Rust-tips/"), ["blog", "rust", "tips"]);
    }
}
