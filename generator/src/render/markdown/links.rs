//! Link and image destinations: `@/` internal links to permalinks, the `rel`/`target` Zola adds
//! to external links, and images with `loading="lazy" decoding="async"`.

use pulldown_cmark::CowStr;
use pulldown_cmark_escape::{escape_href, escape_html};

use super::{MarkdownSettings, Page};

/// `@/file.md#anchor` as the file's permalink with the anchor; any other destination as is.
pub(super) fn rewrite<'a>(dest: CowStr<'a>, page: &Page<'_>) -> CowStr<'a> {
    let Some(target) = dest.strip_prefix("@/") else { return dest };
    let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a)));
    match page.internal_links.get(file) {
        Some(path) => match anchor {
            Some(anchor) => format!("{}{path}#{anchor}", page.base_url).into(),
            None => format!("{}{path}", page.base_url).into(),
        },
        None => dest,
    }
}

/// What Zola counts as external: an absolute `http:` or `https:` URL as written (an `@/`
/// link is internal even once it is a full URL).
pub(super) fn is_external(dest: &str) -> bool {
    dest.starts_with("http:") || dest.starts_with("https:")
}

/// The opening tag of an external link with the attributes the settings ask for.
pub(super) fn external_link_tag(dest: &str, title: &str, settings: &MarkdownSettings) -> String {
    let mut tag = String::with_capacity(dest.len() + 64);
    tag.push_str("<a href=\"");
    escape_href(&mut tag, dest).expect("writing to a String cannot fail");
    tag.push('"');
    push_title(&mut tag, title);
    if let Some(class) = &settings.external_links_class {
        tag.push_str(" class=\"");
        escape_html(&mut tag, class).expect("writing to a String cannot fail");
        tag.push('"');
    }
    let rel: Vec<&str> = [
        // A new tab must not get a handle on this page.
        (settings.external_links_target_blank, "noopener"),
        (settings.external_links_no_follow, "nofollow"),
        (settings.external_links_no_referrer, "noreferrer"),
    ]
    .into_iter()
    .filter_map(|(on, value)| on.then_some(value))
    .collect();
    if !rel.is_empty() {
        tag.push_str(" rel=\"");
        tag.push_str(&rel.join(" "));
        tag.push('"');
    }
    if settings.external_links_target_blank {
        tag.push_str(" target=\"_blank\"");
    }
    tag.push('>');
    tag
}

/// An `<img>` that loads lazily and decodes off the main thread; `alt` is plain text.
pub(super) fn lazy_image_tag(dest: &str, title: &str, alt: &str) -> String {
    let mut tag = String::with_capacity(dest.len() + alt.len() + 64);
    tag.push_str("<img src=\"");
    escape_href(&mut tag, dest).expect("writing to a String cannot fail");
    tag.push_str("\" alt=\"");
    escape_html(&mut tag, alt).expect("writing to a String cannot fail");
    tag.push('"');
    push_title(&mut tag, title);
    tag.push_str(" loading=\"lazy\" decoding=\"async\" />");
    tag
}

fn push_title(tag: &mut String, title: &str) {
    if !title.is_empty() {
        tag.push_str(" title=\"");
        escape_html(&mut *tag, title).expect("writing to a String cannot fail");
        tag.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_destinations_are_external() {
        for (dest, external) in [
            ("https://x.org", true),
            ("http://x.org", true),
            ("/about/", false),
            ("mailto:a@b.c", false),
            ("@/a.md", false),
        ] {
            assert_eq!(is_external(dest), external, "{dest}");
        }
    }

    #[test]
    fn attributes_in_an_external_link_are_escaped() {
        let settings = MarkdownSettings { external_links_no_follow: true, ..MarkdownSettings::default() };
        assert_eq!(
            external_link_tag("https://x.org/?a=1&b=\"2\"", "say \"hi\"", &settings),
            r#"<a href="https://x.org/?a=1&amp;b=%222%22" title="say &quot;hi&quot;" rel="nofollow">"#
        );
    }
}
