//! What the fuzz targets in `fuzz/` reach that the generator does not otherwise publish: the
//! front-matter split and parse, and the Markdown renderer. Hidden from the docs and no promise
//! to anyone else; it only re-exports, so the targets exercise the code a build runs.

pub use crate::load::front_matter::{
    FrontMatterError, Split, parse as parse_front_matter, split as split_front_matter,
};
pub use crate::render::markdown::to_html as markdown_to_html;
pub use crate::render::markdown::{
    AnchorLinks, AnchorSlugs, BuiltinTemplates, CONTINUE_READING, Heading, MarkdownSettings, Page, Rendered,
    heading_ids, render as render_markdown,
};
