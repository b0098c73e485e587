//! Word count and reading time, counted as Zola does: on the raw Markdown, leaving out what is
//! between ``` fences, at 200 words a minute.

use unicode_segmentation::UnicodeSegmentation;

/// Unicode words (UAX #29) outside ``` fences. Every other piece between fences is code, so
/// an unclosed fence leaves out the rest of the body, as in Zola.
pub(super) fn word_count(body: &str) -> usize {
    body.split("```").step_by(2).map(|prose| prose.unicode_words().count()).sum()
}

/// Minutes, rounded up: a 10-word page takes a minute, an empty one none.
pub(super) fn reading_time(word_count: usize) -> usize {
    word_count.div_ceil(200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_unicode_words_outside_code_fences() {
        assert_eq!(word_count("Hello, *world*! It's 2 o'clock."), 5);
        assert_eq!(word_count("مرحبا بالعالم"), 2);
        assert_eq!(word_count("one\n```rust\nlet a = b;\n```\ntwo"), 2);
    }

    #[test]
    fn reading_time_rounds_minutes_up() {
        assert_eq!(reading_time(0), 0);
        assert_eq!(reading_time(1), 1);
        assert_eq!(reading_time(200), 1);
        assert_eq!(reading_time(201), 2);
    }
}
