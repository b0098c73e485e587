//! Markdown to HTML with pulldown-cmark, rewriting `@/` internal links to permalinks.

use std::collections::HashMap;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

/// The CommonMark extensions Zola enables.
pub fn markdown_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Renders a body; `internal_links` maps content files to site paths (resolve checked them all).
pub fn to_html(body: &str, internal_links: &HashMap<String, String>, base_url: &str) -> String {
    let rewrite = |dest: CowStr<'static>| -> CowStr<'static> {
        let Some(target) = dest.strip_prefix("@/") else { return dest };
        let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a)));
        match internal_links.get(file) {
            Some(path) => match anchor {
                Some(anchor) => format!("{base_url}{path}#{anchor}").into(),
                None => format!("{base_url}{path}").into(),
            },
            None => dest,
        }
    };
    let events = Parser::new_ext(body, markdown_options()).map(|event| match event {
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: rewrite(dest_url.into_static()), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: rewrite(dest_url.into_static()), title, id })
        }
        // `{#id .class}` after a heading is Zola's syntax and kept; any other `key=value` would
        // become an attribute as written, `style` or `onclick` included, which the pages' CSP
        // refuses or which runs script, so Markdown syntax never sets one.
        Event::Start(Tag::Heading { level, id, classes, attrs: _ }) => {
            Event::Start(Tag::Heading { level, id, classes, attrs: Vec::new() })
        }
        other => other,
    });
    let mut out = String::with_capacity(body.len() * 3 / 2);
    html::push_html(&mut out, events);
    // Table alignment as classes: the pages' CSP refuses `style` attributes (the theme's
    // stylesheet defines `align-left`, `align-center` and `align-right`).
    for side in ["left", "center", "right"] {
        out = out.replace(&format!(" style=\"text-align: {side}\""), &format!(" class=\"align-{side}\""));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_links_become_permalinks_with_their_anchor() {
        let links = HashMap::from([("about.md".to_string(), "/about/".to_string())]);
        let html = to_html("[us](@/about.md#team) and [x](https://x.org)", &links, "https://site.org");
        assert!(html.contains(r#"href="https://site.org/about/#team""#), "{html}");
        assert!(html.contains(r#"href="https://x.org""#), "{html}");
    }

    #[test]
    fn heading_attributes_keep_id_and_classes_but_set_no_other_attribute() {
        // Found by the `markdown` fuzz target: `{style=…}` became a style attribute.
        let html = to_html("# Hi {#top .big style=color:red onclick=alert(1) data-x}\n", &HashMap::new(), "");
        assert_eq!(html, "<h1 id=\"top\" class=\"big\">Hi</h1>\n");
    }

    #[test]
    fn aligned_table_cells_get_classes_not_style_attributes() {
        let html = to_html("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n", &HashMap::new(), "");
        assert!(!html.contains("style="), "{html}");
        assert!(html.contains(r#"<th class="align-left">a</th>"#), "{html}");
        assert!(html.contains(r#"<td class="align-center">2</td>"#), "{html}");
        assert!(html.contains(r#"<td class="align-right">3</td>"#), "{html}");
    }
}
