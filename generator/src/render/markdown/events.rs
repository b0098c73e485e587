//! The event stream between the parser and the HTML writer: every Zola rewrite happens here,
//! event by event, while the writer consumes what comes out.
//!
//! Some constructs are only known at their end (a heading's id comes from its text; a lazy
//! image's `alt` from its content; a bottom footnote's place is the footer), so their events
//! are captured and released once complete. Everything else goes straight out.

use std::cell::Cell;
use std::collections::VecDeque;

use pulldown_cmark::{Alignment, CodeBlockKind, CowStr, Event, HeadingLevel, Tag, TagEnd};

use super::footnotes::BottomFootnotes;
use super::headings::{AnchorContext, AnchorIds, FlatHeading, HeadingText, opening_tag};
use super::summary::{SummaryCut, closing_tags, replace_marker};
use super::{AnchorLinks, MarkdownSettings, Page, Templates, links};

/// What the stream found besides the HTML.
pub(super) struct Found {
    pub headings: Vec<FlatHeading>,
    pub summary: Option<SummaryCut>,
    pub unknown_languages: Vec<String>,
}

/// Events held back until their construct is complete.
enum Capture<'a> {
    Heading {
        level: HeadingLevel,
        id: Option<CowStr<'a>>,
        classes: Vec<CowStr<'a>>,
        text: HeadingText,
        events: Vec<Event<'a>>,
    },
    Image {
        dest: CowStr<'a>,
        title: CowStr<'a>,
        alt: String,
    },
    Footnote {
        label: CowStr<'a>,
        events: Vec<Event<'a>>,
    },
    /// A fenced block to highlight: giallo needs its whole text at once.
    Code {
        info: CowStr<'a>,
        text: String,
    },
}

/// Table cells get their alignment as a class: the pages' CSP refuses `style` attributes
/// (the theme's stylesheet defines `align-left`, `align-center` and `align-right`).
#[derive(Default)]
struct Table {
    alignments: Vec<Alignment>,
    cell: usize,
    in_head: bool,
}

pub(super) struct Stream<'a, 'p> {
    input: std::vec::IntoIter<Event<'a>>,
    output: VecDeque<Event<'a>>,
    page: &'p Page<'p>,
    settings: &'p MarkdownSettings,
    templates: &'p dyn Templates,
    /// How many bytes of HTML the writer has produced so far.
    written: &'p Cell<usize>,
    captures: Vec<Capture<'a>>,
    /// The elements open in what has been written, to close them after a summary.
    open: Vec<TagEnd>,
    table: Table,
    ids: AnchorIds,
    headings: Vec<FlatHeading>,
    footnotes: Option<BottomFootnotes<'a>>,
    summary: Option<SummaryCut>,
    unknown_languages: Vec<String>,
    finished_input: bool,
}

impl<'a, 'p> Stream<'a, 'p> {
    pub fn new(
        events: Vec<Event<'a>>,
        page: &'p Page<'p>,
        settings: &'p MarkdownSettings,
        templates: &'p dyn Templates,
        written: &'p Cell<usize>,
    ) -> Self {
        let explicit = events.iter().filter_map(|event| match event {
            Event::Start(Tag::Heading { id: Some(id), .. }) => Some(id.to_string()),
            _ => None,
        });
        let ids = AnchorIds::new(settings.slugify_anchors, explicit);
        Self {
            input: events.into_iter(),
            output: VecDeque::new(),
            page,
            settings,
            templates,
            written,
            captures: Vec::new(),
            open: Vec::new(),
            table: Table::default(),
            ids,
            headings: Vec::new(),
            footnotes: settings.bottom_footnotes.then(BottomFootnotes::default),
            summary: None,
            unknown_languages: Vec::new(),
            finished_input: false,
        }
    }

    pub fn finish(self) -> Found {
        Found { headings: self.headings, summary: self.summary, unknown_languages: self.unknown_languages }
    }

    /// Sends an event on: into the innermost capture, else to the writer.
    fn emit(&mut self, event: Event<'a>) {
        match self.captures.last_mut() {
            Some(Capture::Heading { text, events, .. }) => {
                text.observe(&event);
                events.push(event);
            }
            Some(Capture::Image { alt, .. }) => {
                if let Event::Text(text) | Event::Code(text) = &event {
                    alt.push_str(text);
                }
            }
            Some(Capture::Footnote { events, .. }) => events.push(event),
            Some(Capture::Code { text, .. }) => {
                if let Event::Text(chunk) = &event {
                    text.push_str(chunk);
                }
            }
            None => self.output.push_back(event),
        }
    }

    fn process(&mut self, event: Event<'a>) {
        let written_directly = self.captures.is_empty();
        match event {
            Event::Start(Tag::Heading { level, id, classes, attrs: _ }) => {
                // `{#id .class}` is Zola's syntax and kept; any other `key=value` would become
                // an attribute as written, `style` or `onclick` included, which the pages' CSP
                // refuses or which runs script, so Markdown syntax never sets one.
                let text = HeadingText::started();
                self.captures.push(Capture::Heading { level, id, classes, text, events: Vec::new() });
            }
            Event::End(TagEnd::Heading(_)) => self.end_heading(),
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                let dest_url = links::rewrite(dest_url, self.page);
                if self.settings.lazy_async_image {
                    self.captures.push(Capture::Image { dest: dest_url, title, alt: String::new() });
                } else {
                    self.track_open(written_directly, TagEnd::Image);
                    self.emit(Event::Start(Tag::Image { link_type, dest_url, title, id }));
                }
            }
            Event::End(TagEnd::Image) => {
                if let Some(Capture::Image { .. }) = self.captures.last() {
                    let Some(Capture::Image { dest, title, alt }) = self.captures.pop() else { unreachable!() };
                    self.emit(Event::Html(links::lazy_image_tag(&dest, &title, &alt).into()));
                } else {
                    self.track_close(written_directly);
                    self.emit(Event::End(TagEnd::Image));
                }
            }
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                self.track_open(written_directly, TagEnd::Link);
                if links::is_external(&dest_url) && self.settings.tweaks_external_links() {
                    let tag = links::external_link_tag(&dest_url, &title, self.settings);
                    self.emit(Event::InlineHtml(tag.into()));
                } else {
                    let dest_url = links::rewrite(dest_url, self.page);
                    self.emit(Event::Start(Tag::Link { link_type, dest_url, title, id }));
                }
            }
            Event::Start(Tag::Table(alignments)) => {
                self.table = Table { alignments, cell: 0, in_head: false };
                self.track_open(written_directly, TagEnd::Table);
                self.emit(Event::Start(Tag::Table(Vec::new())));
            }
            Event::Start(Tag::TableHead) => {
                self.table.in_head = true;
                self.table.cell = 0;
                self.track_open(written_directly, TagEnd::TableHead);
                self.emit(Event::Start(Tag::TableHead));
            }
            Event::End(TagEnd::TableHead) => {
                self.table.in_head = false;
                self.track_close(written_directly);
                self.emit(Event::End(TagEnd::TableHead));
            }
            Event::Start(Tag::TableRow) => {
                self.table.cell = 0;
                self.track_open(written_directly, TagEnd::TableRow);
                self.emit(Event::Start(Tag::TableRow));
            }
            Event::Start(Tag::TableCell) => {
                self.track_open(written_directly, TagEnd::TableCell);
                let side = match self.table.alignments.get(self.table.cell) {
                    Some(Alignment::Left) => "left",
                    Some(Alignment::Center) => "center",
                    Some(Alignment::Right) => "right",
                    _ => return self.emit(Event::Start(Tag::TableCell)),
                };
                let cell = if self.table.in_head { "th" } else { "td" };
                self.emit(Event::Html(format!("<{cell} class=\"align-{side}\">").into()));
            }
            Event::End(TagEnd::TableCell) => {
                self.table.cell += 1;
                self.track_close(written_directly);
                self.emit(Event::End(TagEnd::TableCell));
            }
            Event::FootnoteReference(label) if self.footnotes.is_some() => {
                let reference = self.footnotes.as_mut().map(|notes| notes.refer(&label));
                self.emit(reference.expect("checked by the guard"));
            }
            Event::Start(Tag::FootnoteDefinition(label)) if self.footnotes.is_some() => {
                self.captures.push(Capture::Footnote { label, events: Vec::new() });
            }
            Event::End(TagEnd::FootnoteDefinition) if self.footnotes.is_some() => {
                if let Some(Capture::Footnote { label, events }) = self.captures.pop() {
                    self.footnotes.as_mut().expect("checked by the guard").define(label, events);
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                if self.settings.highlighting.as_ref().is_some_and(|h| h.handles(&info)) =>
            {
                self.captures.push(Capture::Code { info, text: String::new() });
            }
            Event::End(TagEnd::CodeBlock) if matches!(self.captures.last(), Some(Capture::Code { .. })) => {
                self.end_code_block();
            }
            Event::Html(text) => self.markup(text, false, written_directly),
            Event::InlineHtml(text) => self.markup(text, true, written_directly),
            Event::Start(tag) => {
                self.track_open(written_directly, tag.to_end());
                self.emit(Event::Start(tag));
            }
            Event::End(end) => {
                self.track_close(written_directly);
                self.emit(Event::End(end));
            }
            other => self.emit(other),
        }
    }

    /// Raw HTML, where the first `<!-- more -->` outside any capture ends the summary.
    fn markup(&mut self, text: CowStr<'a>, inline: bool, written_directly: bool) {
        let replaced = if written_directly && self.summary.is_none() { replace_marker(&text) } else { None };
        let Some(replaced) = replaced else {
            return self.emit(if inline { Event::InlineHtml(text) } else { Event::Html(text) });
        };
        // Everything before this event has been written: the writer asks for the next event
        // only once it is done with the last, and nothing is queued when input is read.
        self.summary = Some(SummaryCut { at: self.written.get(), inline, closing: closing_tags(&self.open) });
        self.emit(if inline { Event::InlineHtml(replaced.into()) } else { Event::Html(replaced.into()) });
    }

    fn end_heading(&mut self) {
        let Some(Capture::Heading { level, id, classes, mut text, events }) = self.captures.pop() else { return };
        if let Some(marker) = self.page.held_marker {
            text.text = crate::render::shortcodes::without_placeholders(&text.text, marker);
        }
        let id = self.ids.assign(id.as_deref(), &text.text);
        let level_number = level as u32;
        let anchor = match self.settings.insert_anchor_links {
            AnchorLinks::None => None,
            _ => Some(self.templates.anchor_link(&AnchorContext { id: &id, level: level_number })),
        };
        self.emit(Event::Start(Tag::Heading { level, id: Some(id.clone().into()), classes, attrs: Vec::new() }));
        match (self.settings.insert_anchor_links, anchor) {
            (AnchorLinks::Left, Some(anchor)) => {
                self.emit(Event::InlineHtml(anchor.into()));
                events.into_iter().for_each(|event| self.emit(event));
            }
            (AnchorLinks::Right, Some(anchor)) => {
                events.into_iter().for_each(|event| self.emit(event));
                self.emit(Event::InlineHtml(anchor.into()));
            }
            (AnchorLinks::Heading, Some(anchor)) if opening_tag(&anchor).is_some() => {
                let opening = opening_tag(&anchor).expect("checked by the guard").to_string();
                self.emit(Event::InlineHtml(opening.into()));
                events.into_iter().for_each(|event| self.emit(event));
                self.emit(Event::InlineHtml("</a>".into()));
            }
            _ => events.into_iter().for_each(|event| self.emit(event)),
        }
        self.emit(Event::End(TagEnd::Heading(level)));
        self.headings.push(FlatHeading { level: level_number, id, title: text.text });
    }

    /// One `Html` event for the whole highlighted block, so nothing inside it is tracked as open.
    fn end_code_block(&mut self) {
        let Some(Capture::Code { info, text }) = self.captures.pop() else { return };
        let highlighter = self.settings.highlighting.as_ref().expect("captured only when highlighting");
        match highlighter.highlight(&info, &text) {
            Some(highlighted) => {
                self.unknown_languages.extend(highlighted.unknown_language);
                // The newline CommonMark's writer puts after a block.
                self.emit(Event::Html(format!("{}\n", highlighted.html).into()));
            }
            None => {
                self.emit(Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))));
                self.emit(Event::Text(text.into()));
                self.emit(Event::End(TagEnd::CodeBlock));
            }
        }
    }

    fn track_open(&mut self, written_directly: bool, end: TagEnd) {
        if written_directly {
            self.open.push(end);
        }
    }

    fn track_close(&mut self, written_directly: bool) {
        if written_directly {
            self.open.pop();
        }
    }
}

impl<'a> Iterator for Stream<'a, '_> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        loop {
            if let Some(event) = self.output.pop_front() {
                return Some(event);
            }
            if self.finished_input {
                return None;
            }
            match self.input.next() {
                Some(event) => self.process(event),
                None => {
                    self.finished_input = true;
                    if let Some(footnotes) = self.footnotes.take() {
                        self.output.extend(footnotes.footer());
                    }
                }
            }
        }
    }
}
