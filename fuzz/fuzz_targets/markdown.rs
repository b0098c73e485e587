//! A page body rendered to HTML. Nothing panics, the same body renders the same way twice, and a
//! body without raw HTML (no `<`) yields no tag or attribute the pages' CSP would refuse or
//! that runs script: no `style` attribute, no `on…` handler, no `<script>`, `<style>`,
//! `<iframe>` or `<object>`. Editors may still write raw HTML on purpose; Markdown syntax alone
//! must never produce these.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use generator::fuzzing::{
    AnchorLinks, BuiltinTemplates, Heading, MarkdownSettings, Page, heading_ids, markdown_to_html, render_markdown,
};
use libfuzzer_sys::fuzz_target;

fn links() -> &'static HashMap<String, String> {
    static LINKS: OnceLock<HashMap<String, String>> = OnceLock::new();
    LINKS.get_or_init(|| {
        HashMap::from([
            ("about.md".to_string(), "/about/".to_string()),
            ("blog/_index.ar.md".to_string(), "/ar/blog/".to_string()),
        ])
    })
}

/// The tags of `html` as (name, attribute names), in order. Valid only when every `<` in the
/// output opens a tag, which holds when the source had no `<` (text is escaped).
fn tags(html: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let inner = &rest[open + 1..];
        let close = inner.find('>').unwrap_or_else(|| panic!("a tag never closes in {html:?}"));
        let tag = &inner[..close];
        rest = &inner[close + 1..];
        let tag = tag.trim_start_matches('/').trim_end_matches('/');
        let (name, mut attributes) = tag.split_once(' ').unwrap_or((tag, ""));
        let mut names = Vec::new();
        // `name="value"` pairs and bare names; values are quoted and escaped, so a `"` ends one.
        loop {
            attributes = attributes.trim_start();
            if attributes.is_empty() {
                break;
            }
            let end = attributes.find(['=', ' ']).unwrap_or(attributes.len());
            names.push(attributes[..end].to_ascii_lowercase());
            attributes = &attributes[end..];
            if let Some(value) = attributes.strip_prefix("=\"") {
                let quote = value.find('"').unwrap_or_else(|| panic!("an unclosed attribute in {html:?}"));
                attributes = &value[quote + 1..];
            }
        }
        found.push((name.to_ascii_lowercase(), names));
    }
    found
}

/// Every Zola switch on, so footnotes, lazy images, external links and anchor links are reached.
fn everything_on() -> MarkdownSettings {
    MarkdownSettings {
        smart_punctuation: true,
        external_links_target_blank: true,
        external_links_no_follow: true,
        external_links_no_referrer: true,
        definition_list: true,
        bottom_footnotes: true,
        github_alerts: true,
        lazy_async_image: true,
        insert_anchor_links: AnchorLinks::Left,
        ..MarkdownSettings::default()
    }
}

fn flat_ids(toc: &[Heading], ids: &mut Vec<String>) {
    for heading in toc {
        ids.push(heading.id.clone());
        flat_ids(&heading.children, ids);
    }
}

fuzz_target!(|body: &str| {
    let html = markdown_to_html(body, links(), "https://site.test");
    assert_eq!(html, markdown_to_html(body, links(), "https://site.test"), "not deterministic");
    let settings = everything_on();
    let page = Page { internal_links: links(), base_url: "https://site.test", permalink: "https://site.test/p/", held_marker: None };
    let rendered = render_markdown(body, &page, &settings, &BuiltinTemplates);
    let mut ids = Vec::new();
    flat_ids(&rendered.toc, &mut ids);
    assert_eq!(ids, heading_ids(body, &settings), "heading_ids disagrees with the toc");
    if body.contains('<') {
        return;
    }
    for (name, attributes) in tags(&html).into_iter().chain(tags(&rendered.html)) {
        assert!(!matches!(name.as_str(), "script" | "style" | "iframe" | "object" | "embed"), "<{name}> in {html:?}");
        for attribute in attributes {
            assert!(
                attribute != "style" && !attribute.starts_with("on"),
                "{attribute} on <{name}> from {body:?}: {html}"
            );
        }
    }
});
