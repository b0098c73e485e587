//! A content file as an editor (or a broken editor) might write it: split into front matter and
//! body, then the front matter parsed as a page's and as a section's. Nothing panics; a split
//! puts the pieces back together into the file; the body's line number is the line it starts
//! on; an error names a line inside the front matter.
#![no_main]

use generator::fuzzing::{parse_front_matter, split_front_matter};
use generator::load::{PageFrontMatter, SectionFrontMatter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(split) = split_front_matter(text) else { return };
    let file = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Both pieces are slices of the file, in order, with only the `+++` lines between them.
    assert!(file.starts_with("+++"));
    let front_start = if file[3..].starts_with("\r\n") { 5 } else { 4 };
    assert_eq!(&file[front_start..front_start + split.front_matter.len()], split.front_matter);
    let body_start = file.len() - split.body.len();
    assert!(file.ends_with(split.body));
    let closing = &file[front_start + split.front_matter.len()..body_start];
    assert_eq!(closing.trim_end(), "+++", "between the front matter and the body: {closing:?}");
    // The body starts on the line after the closing `+++` (unless the file ends there).
    if !split.body.is_empty() {
        assert_eq!(split.body_line, file[..body_start].matches('\n').count() + 1);
    }
    let last_front_matter_line = 1 + split.front_matter.matches('\n').count() + 1;
    for error in [
        parse_front_matter::<PageFrontMatter>(split.front_matter).err(),
        parse_front_matter::<SectionFrontMatter>(split.front_matter).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!((1..=last_front_matter_line).contains(&error.line), "line {} of {text:?}", error.line);
        assert!(!error.message.is_empty());
    }
});
