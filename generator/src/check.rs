//! What `pledge check --external-links` reads from a rendered site: every link to another site,
//! with the pages that carry it, so each URL is requested once however many pages name it.

use std::collections::{BTreeMap, BTreeSet};

use lol_html::{HtmlRewriter, Settings, element};

use crate::render::{OutputFile, RenderedSite};

/// `http(s)://` links of `<a href>` in the site's pages, fragment removed, by URL, with the
/// output paths of the pages that link there. Links into the site itself (under `base_url`:
/// the build checks those) and links starting with one of `skip_prefixes` (`[link_checker]
/// skip_prefixes`) are left out.
pub fn external_links(
    site: &RenderedSite,
    base_url: &str,
    skip_prefixes: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let base_url = base_url.trim_end_matches('/');
    let is_internal =
        |url: &str| url.strip_prefix(base_url).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let mut links: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, file) in site.files.iter().filter(|(path, _)| path.ends_with(".html")) {
        let OutputFile::Bytes(html) = file else { continue };
        for url in links_in(html) {
            if !is_internal(&url) && !skip_prefixes.iter().any(|prefix| url.starts_with(prefix.as_str())) {
                links.entry(url).or_default().insert(path.clone());
            }
        }
    }
    links
}

fn links_in(html: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let settings = Settings {
        element_content_handlers: vec![element!("a[href]", |element| {
            if let Some(href) = element.get_attribute("href") {
                let href = href.trim();
                let lower = href.to_ascii_lowercase();
                if lower.starts_with("http://") || lower.starts_with("https://") {
                    found.push(href.split('#').next().unwrap_or(href).to_owned());
                }
            }
            Ok(())
        })],
        ..Settings::new()
    };
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    // A page lol_html cannot read has no links to report; rendering would have failed first.
    let _ = rewriter.write(html).and_then(|()| rewriter.end());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_external_url_is_listed_once_with_its_pages_and_skipped_prefixes_are_not() {
        let mut site = RenderedSite::default();
        let page = |html: &str| OutputFile::Bytes(html.as_bytes().to_vec());
        site.files.insert(
            "a/index.html".into(),
            page(r#"<a href="https://x.org/p#top">x</a> <a href="/local/">l</a> <a href="mailto:m@x.org">m</a>"#),
        );
        site.files.insert("b/index.html".into(), page(r#"<a href=" https://x.org/p ">x</a><a href="http://skip.test/y">s</a><a href="https://us.test/a/">us</a>"#));
        site.files.insert("c.css".into(), page(r#"<a href="https://not.a.page/">"#));
        let links = external_links(&site, "https://us.test/", &["http://skip.test".to_owned()]);
        assert_eq!(links.keys().collect::<Vec<_>>(), ["https://x.org/p"]);
        assert_eq!(links["https://x.org/p"].iter().collect::<Vec<_>>(), ["a/index.html", "b/index.html"]);
    }
}
