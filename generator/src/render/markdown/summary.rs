//! The summary: everything before `<!-- more -->`, with the tags still open there closed, and
//! what replaces the marker in the full content.

use pulldown_cmark::{Event, TagEnd, html};

use super::Templates;

/// The marker editors write where the summary ends.
pub(super) const MARKER: &str = "<!-- more -->";

/// What replaces the marker in the content, so "continue reading" links have a target.
pub const CONTINUE_READING: &str = r#"<span id="continue-reading"></span>"#;

/// What `summary-cutoff.html` is rendered with when the marker cuts a block in two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SummaryCutoff<'a> {
    /// The summary's HTML up to the marker, before its open tags are closed.
    pub summary: &'a str,
}

/// Zola's built-in `summary-cutoff.html`: an ellipsis, unless the cut follows punctuation.
pub fn default_summary_cutoff(cutoff: &SummaryCutoff) -> String {
    let ends_in_punctuation = cutoff.summary.trim_end().chars().next_back().is_some_and(is_punctuation);
    if ends_in_punctuation { String::new() } else { "&hellip;".to_string() }
}

/// ASCII punctuation and the common Unicode sentence marks (Arabic, CJK, typographic).
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c, '…' | '’' | '”' | '»' | '،' | '؛' | '؟' | '。' | '、' | '！' | '？' | '—' | '–')
}

/// Where the summary ends in the rendered HTML, found while the HTML was being written.
pub(super) struct SummaryCut {
    /// Bytes of the HTML before the marker.
    pub at: usize,
    /// Whether the marker was inside a block (then Zola's cutoff template ends the summary).
    pub inline: bool,
    /// The closing tags of what was open at the marker.
    pub closing: String,
}

impl SummaryCut {
    pub fn assemble(self, html: &str, templates: &dyn Templates) -> String {
        let before = &html[..self.at];
        let cutoff =
            if self.inline { templates.summary_cutoff(&SummaryCutoff { summary: before }) } else { String::new() };
        [before, &cutoff, &self.closing].concat()
    }
}

/// The HTML that closes `open` (innermost last), as the writer would close each.
pub(super) fn closing_tags(open: &[TagEnd]) -> String {
    let mut closing = String::new();
    html::push_html(&mut closing, open.iter().rev().map(|end| Event::End(*end)));
    closing
}

/// The marker's event text with the marker replaced; `None` when it holds no marker.
pub(super) fn replace_marker(text: &str) -> Option<String> {
    text.contains(MARKER).then(|| text.replacen(MARKER, CONTINUE_READING, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cutoff_adds_an_ellipsis_only_after_a_word() {
        assert_eq!(default_summary_cutoff(&SummaryCutoff { summary: "<p>It was " }), "&hellip;");
        assert_eq!(default_summary_cutoff(&SummaryCutoff { summary: "<p>It was. " }), "");
        assert_eq!(default_summary_cutoff(&SummaryCutoff { summary: "<p>كان، " }), "");
    }

    #[test]
    fn open_tags_close_innermost_first() {
        let open = [TagEnd::BlockQuote(None), TagEnd::Paragraph, TagEnd::Emphasis];
        assert_eq!(closing_tags(&open), "</em></p>\n</blockquote>\n");
    }
}
