//! Keeping HTML shortcode output away from the Markdown renderer: each output is replaced by a
//! placeholder word, and the words are swapped back into the rendered HTML.
//!
//! Inserting the HTML into the Markdown instead would let the renderer reinterpret it: a blank
//! line inside the output ends the HTML block and the indented lines after it become a code
//! block, `*` and `_` in text between inline tags become emphasis. A word of ASCII letters and
//! digits is the one thing Markdown passes through unchanged, in text, headings, table cells,
//! link destinations and raw HTML attributes alike.

use std::fmt::Write as _;

/// The HTML outputs of one body, and the word that marks where each goes.
#[derive(Debug, Clone, Default)]
pub(super) struct Placeholders {
    /// A word absent from the body, so no author text is ever taken for a placeholder.
    marker: String,
    outputs: Vec<String>,
}

impl Placeholders {
    pub fn for_body(body: &str) -> Self {
        let mut marker = String::from("pledgeshortcode");
        while body.contains(&marker) {
            marker.push('x');
        }
        Self { marker, outputs: Vec::new() }
    }

    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Holds `html` back and writes its placeholder, `{marker}{index}z`, to `markdown`.
    pub fn hold(&mut self, html: String, markdown: &mut String) {
        let _ = write!(markdown, "{}{}z", self.marker, self.outputs.len());
        self.outputs.push(html);
    }

    /// Puts every held output where its placeholder ended up in the rendered HTML.
    ///
    /// An output that starts as a CommonMark HTML block would (`<div>`, `<figure>`, `<table>`,
    /// a comment…) and stands alone in its paragraph replaces that paragraph: Zola documents that
    /// a shortcode wrapped in a `<div>` is not put in a `<p>`, while inline output (`<span>`,
    /// `<a>`) is.
    pub fn restore(&self, html: String) -> String {
        if self.outputs.is_empty() {
            return html;
        }
        let mut out = String::with_capacity(html.len() + self.outputs.iter().map(String::len).sum::<usize>());
        let mut rest = html.as_str();
        while let Some(found) = rest.find(&self.marker) {
            let before = &rest[..found];
            let after_marker = &rest[found + self.marker.len()..];
            let digits = after_marker.bytes().take_while(u8::is_ascii_digit).count();
            let output = after_marker[..digits]
                .parse::<usize>()
                .ok()
                .filter(|_| after_marker[digits..].starts_with('z'))
                .and_then(|index| self.outputs.get(index));
            let Some(output) = output else {
                out.push_str(before);
                out.push_str(&self.marker);
                rest = after_marker;
                continue;
            };
            let after = &after_marker[digits + 1..];
            match (before.strip_suffix("<p>"), after.strip_prefix("</p>")) {
                (Some(before_paragraph), Some(after_paragraph)) if starts_html_block(output) => {
                    out.push_str(before_paragraph);
                    out.push_str(output);
                    rest = after_paragraph;
                }
                _ => {
                    out.push_str(before);
                    out.push_str(output);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Whether `html` begins the way a CommonMark HTML block of kinds 1 to 6 does: a comment,
/// declaration, processing instruction, CDATA, or a block-level tag (the spec's list).
fn starts_html_block(html: &str) -> bool {
    let Some(rest) = html.trim_start().strip_prefix('<') else { return false };
    if rest.starts_with('!') || rest.starts_with('?') {
        return true;
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let name_length = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = rest[..name_length].to_ascii_lowercase();
    let ends_name = matches!(rest[name_length..].chars().next(), None | Some(' ' | '\t' | '\n' | '\r' | '>' | '/'));
    ends_name && BLOCK_TAGS.contains(&name.as_str())
}

const BLOCK_TAGS: &[&str] = &[
    // Kind 1: raw text elements.
    "pre",
    "script",
    "style",
    "textarea", //
    // Kind 6.
    "address",
    "article",
    "aside",
    "base",
    "basefont",
    "blockquote",
    "body",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "legend",
    "li",
    "link",
    "main",
    "menu",
    "menuitem",
    "nav",
    "noframes",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "search",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
];

/// `text` without the placeholders of `marker`: the text a reader sees of it, where the held
/// HTML is markup.
pub fn without(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find(marker) {
        out.push_str(&rest[..found]);
        let after_marker = &rest[found + marker.len()..];
        let digits = after_marker.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after_marker[digits..].starts_with('z') {
            rest = &after_marker[digits + 1..];
        } else {
            out.push_str(marker);
            rest = after_marker;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(body: &str, outputs: &[&str]) -> (Placeholders, Vec<String>) {
        let mut placeholders = Placeholders::for_body(body);
        let words = outputs
            .iter()
            .map(|output| {
                let mut word = String::new();
                placeholders.hold(output.to_string(), &mut word);
                word
            })
            .collect();
        (placeholders, words)
    }

    #[test]
    fn each_placeholder_gets_its_own_output_back() {
        let (placeholders, words) = held("", &["<b>one</b>", "<i>two</i>"]);
        let html = format!("<p>a {} b {}3</p>", words[0], words[1]);
        assert_eq!(placeholders.restore(html), "<p>a <b>one</b> b <i>two</i>3</p>");
    }

    #[test]
    fn the_marker_is_a_word_the_body_does_not_contain() {
        let body = "I write pledgeshortcode0z and pledgeshortcodex1z on purpose";
        let (placeholders, words) = held(body, &["<hr>"]);
        assert!(!body.contains(&placeholders.marker), "{}", placeholders.marker);
        let html = format!("<p>{body}</p>\n<p>{}</p>\n", words[0]);
        assert_eq!(placeholders.restore(html), format!("<p>{body}</p>\n<hr>\n"));
    }

    #[test]
    fn block_output_alone_in_a_paragraph_replaces_the_paragraph() {
        let (placeholders, words) = held("", &["<div class=\"note\">x</div>", "<span>y</span>", "<figure>z</figure>"]);
        let html = format!("<p>{}</p>\n<p>{}</p>\n<p>see {} here</p>\n", words[0], words[1], words[2]);
        assert_eq!(
            placeholders.restore(html),
            "<div class=\"note\">x</div>\n<p><span>y</span></p>\n<p>see <figure>z</figure> here</p>\n"
        );
    }

    #[test]
    fn html_block_starts_follow_commonmark() {
        for block in ["<div>", "  <DIV class=x>", "</section>", "<!-- c -->", "<table>", "<hr/>", "<script>"] {
            assert!(starts_html_block(block), "{block}");
        }
        for inline in ["<span>", "<a href=x>", "text <div>", "<divx>", "<img src=x>", ""] {
            assert!(!starts_html_block(inline), "{inline}");
        }
    }

    #[test]
    fn nothing_held_returns_the_html_as_it_was() {
        let placeholders = Placeholders::for_body("");
        assert_eq!(placeholders.restore("<p>pledgeshortcode0z</p>".into()), "<p>pledgeshortcode0z</p>");
    }
}
