//! `:shortcode:` to its emoji in a body's text (Zola's `render_emoji`), GitHub's names, never
//! inside code.

use pulldown_cmark::{Event, Tag, TagEnd, TextMergeStream};

pub(super) fn replace<'a>(events: impl Iterator<Item = Event<'a>>) -> impl Iterator<Item = Event<'a>> {
    // The parser may split a run of text where emphasis could start (`:white_check_mark:`
    // has two such places), so runs are merged before they are read.
    let mut in_code_block = false;
    TextMergeStream::new(events).map(move |event| match event {
        Event::Start(Tag::CodeBlock(_)) => {
            in_code_block = true;
            event
        }
        Event::End(TagEnd::CodeBlock) => {
            in_code_block = false;
            event
        }
        Event::Text(text) if !in_code_block => match with_emoji(&text) {
            Some(replaced) => Event::Text(replaced.into()),
            None => Event::Text(text),
        },
        other => other,
    })
}

/// `text` with every known `:name:` replaced, or `None` when it has none.
fn with_emoji(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut replaced = false;
    while let Some(start) = rest.find(':') {
        let after = &rest[start + 1..];
        let Some(length) = after.find(':') else { break };
        match emojis::get_by_shortcode(&after[..length]) {
            Some(emoji) => {
                out.push_str(&rest[..start]);
                out.push_str(emoji.as_str());
                rest = &after[length + 1..];
                replaced = true;
            }
            // The closing colon may open the next name (`10:30 :smile:`).
            None => {
                out.push_str(&rest[..=start + length]);
                rest = &after[length..];
            }
        }
    }
    out.push_str(rest);
    replaced.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::with_emoji;

    #[test]
    fn known_names_become_emoji_and_other_colons_stay() {
        assert_eq!(with_emoji("Thanks :heart: :+1:").as_deref(), Some("Thanks ❤️ 👍"));
        assert_eq!(with_emoji("at 10:30 :smile:").as_deref(), Some("at 10:30 😄"));
        assert_eq!(with_emoji(":no_such_emoji: and a: b"), None);
        assert_eq!(with_emoji("::"), None);
    }
}
