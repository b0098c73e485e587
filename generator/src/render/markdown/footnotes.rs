//! Footnotes at the bottom (Zola's `bottom_footnotes`): numbered by first reference, each
//! reference with its own id, definitions gathered into a footer with links back to every
//! reference. Definitions nothing refers to are left out, as GitHub does.

use std::collections::HashMap;

use pulldown_cmark::{CowStr, Event, TagEnd};
use pulldown_cmark_escape::{escape_href, escape_html};

#[derive(Default)]
pub(super) struct BottomFootnotes<'a> {
    /// Labels in the order first referred to, with how often each was.
    referred: Vec<(String, usize)>,
    numbers: HashMap<String, usize>,
    definitions: HashMap<String, Vec<Event<'a>>>,
}

impl<'a> BottomFootnotes<'a> {
    /// The reference's markup; its id tells this reference from others to the same note.
    pub fn refer(&mut self, label: &str) -> Event<'a> {
        let next = self.referred.len();
        let index = *self.numbers.entry(label.to_string()).or_insert_with(|| {
            self.referred.push((label.to_string(), 0));
            next
        });
        self.referred[index].1 += 1;
        let (id, href) = (attribute(label), fragment(label));
        let (number, nth) = (index + 1, self.referred[index].1);
        Event::Html(
            format!(
                r##"<sup class="footnote-reference" id="fr-{id}-{nth}"><a href="#fn-{href}">[{number}]</a></sup>"##
            )
            .into(),
        )
    }

    pub fn define(&mut self, label: CowStr<'a>, events: Vec<Event<'a>>) {
        self.definitions.entry(label.to_string()).or_insert(events);
    }

    /// The footer, or nothing when no defined footnote was referred to.
    pub fn footer(mut self) -> Vec<Event<'a>> {
        let mut footer = Vec::new();
        for (label, references) in &self.referred {
            let Some(mut body) = self.definitions.remove(label) else { continue };
            if footer.is_empty() {
                footer.push(Event::Html("<footer class=\"footnotes\">\n<ol class=\"footnotes-list\">\n".into()));
            }
            footer.push(Event::Html(format!("<li id=\"fn-{}\">\n", attribute(label)).into()));
            let back = Event::Html(back_links(label, *references).into());
            // Inside the last paragraph when there is one, as GitHub places them.
            match body.last() {
                Some(Event::End(TagEnd::Paragraph)) => body.insert(body.len() - 1, back),
                _ => body.push(back),
            }
            footer.extend(body);
            footer.push(Event::Html("</li>\n".into()));
        }
        if !footer.is_empty() {
            footer.push(Event::Html("</ol>\n</footer>\n".into()));
        }
        footer
    }
}

/// ` ↩`, then ` ↩2`, ` ↩3`… for each further reference.
fn back_links(label: &str, references: usize) -> String {
    let href = fragment(label);
    (1..=references)
        .map(|nth| {
            let mark = if nth == 1 { String::new() } else { nth.to_string() };
            format!(r##" <a href="#fr-{href}-{nth}">↩{mark}</a>"##)
        })
        .collect()
}

fn attribute(label: &str) -> String {
    let mut escaped = String::with_capacity(label.len());
    escape_html(&mut escaped, label).expect("writing to a String cannot fail");
    escaped
}

fn fragment(label: &str) -> String {
    let mut escaped = String::with_capacity(label.len());
    escape_href(&mut escaped, label).expect("writing to a String cannot fail");
    escaped
}
