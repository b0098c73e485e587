//! Zola's shortcodes in page and section bodies, expanded before the Markdown is rendered.
//!
//! `{{ name(arg=value) }}` renders `templates/shortcodes/name.html` or `name.md`;
//! `{% name(args) %}…{% end %}` does the same with the text between as `body`. A `.md` output is
//! Markdown and flows with the rest of the body; an `.html` output is held back behind a
//! placeholder and put into the rendered HTML unchanged (`placeholders.rs` says why). The caller
//! runs [`expand`], renders [`Expanded::markdown`], then gives the HTML to [`Expanded::restore`].
//!
//! In code (fenced or indented blocks, `inline code`) shortcodes are expanded too, as Zola
//! expands them, and every output goes in as written, so the code shows it as text: a page can
//! show what a shortcode writes. To show the call itself, escape it: `{{/* … */}}`, `{%/* … */%}`.
//! Text in code that only looks like a call (`{{ get_url(path=page.path) }}`) stays as written.
//!
//! Where this differs from Zola, on purpose:
//! - A malformed call (`{{ name(` followed by something that is not `arg=value, …) }}`) is an
//!   error naming the line, where Zola leaves the text as it is: a typo should fail the build,
//!   not ship as text. Text that never looked like a call (`{{ variable }}`, `{% if %}`) stays.
//! - A name with both an `.html` and an `.md` template is an error when used; Zola picks one.

mod call;
mod placeholders;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use pulldown_cmark::{Event, Parser, Tag as MarkdownTag};
use tera::{Context, Tera};

use call::{Call, Parsed, Tag};
use placeholders::Placeholders;

use super::markdown::markdown_options;
use crate::problem::line_of;

/// The shortcodes a site defines: the `shortcodes/NAME.html` and `shortcodes/NAME.md` templates
/// of its `Tera` (site templates already override the theme's). Built once per build.
#[derive(Debug, Clone, Default)]
pub struct Shortcodes {
    by_name: HashMap<String, Template>,
    /// Each template's file, so a shortcode whose template fails names the line in it.
    files: Arc<BTreeMap<String, PathBuf>>,
}

#[derive(Debug, Clone)]
enum Template {
    Html(String),
    Markdown(String),
    /// Both `NAME.html` and `NAME.md` exist.
    Ambiguous,
}

impl Shortcodes {
    pub fn from_tera(tera: &Tera) -> Self {
        let mut by_name: HashMap<String, Template> = HashMap::new();
        for template in tera.get_template_names() {
            let Some(file) = template.strip_prefix("shortcodes/") else { continue };
            let (name, found) = if let Some(name) = file.strip_suffix(".html") {
                (name, Template::Html(template.to_string()))
            } else if let Some(name) = file.strip_suffix(".md") {
                (name, Template::Markdown(template.to_string()))
            } else {
                continue;
            };
            // Templates in subfolders or with other names are partials a shortcode may include.
            if !call::is_identifier(name) {
                continue;
            }
            by_name.entry(name.to_string()).and_modify(|known| *known = Template::Ambiguous).or_insert(found);
        }
        Self { by_name, files: Arc::default() }
    }

    /// The same shortcodes, with the files their templates came from.
    pub fn with_files(self, files: Arc<BTreeMap<String, PathBuf>>) -> Self {
        Self { files, ..self }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A shortcode that cannot be expanded. `line` is 1-based within the body; the quoted call is
/// in `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ShortcodeError {
    pub line: usize,
    pub message: String,
}

/// A body with its shortcodes expanded, ready for the Markdown renderer.
#[derive(Debug, Clone)]
pub struct Expanded<'a> {
    /// Borrowed when the body has no shortcode, which costs one scan and no copy.
    pub markdown: Cow<'a, str>,
    placeholders: Placeholders,
}

impl Expanded<'_> {
    /// Puts the HTML shortcode outputs into `html`, the rendering of [`Expanded::markdown`].
    pub fn restore(&self, html: String) -> String {
        self.placeholders.restore(html)
    }

    /// The word the placeholders of this body start with, for [`without_placeholders`].
    pub fn marker(&self) -> &str {
        self.placeholders.marker()
    }
}

pub use placeholders::without as without_placeholders;

/// Expands every shortcode of `body`.
///
/// `base` is what every shortcode sees besides its arguments: `config`, `lang`, and `page` or
/// `section`. As Zola documents, those override an argument of the same name, except `lang`,
/// which an argument may override, as it may `nth` (the 1-based count of calls to that shortcode
/// so far in this body, the current one included). A body shortcode also gets `body`: the text
/// up to its `{% end %}` without the first and last line break, its own shortcodes expanded
/// (HTML ones included, so a template writes it out with `safe`).
pub fn expand<'a>(
    body: &'a str,
    shortcodes: &Shortcodes,
    tera: &Tera,
    base: &Context,
) -> Result<Expanded<'a>, ShortcodeError> {
    let Some(first) = next_opening(body, 0) else {
        return Ok(Expanded { markdown: Cow::Borrowed(body), placeholders: Placeholders::default() });
    };
    let mut expander = Expander {
        text: body,
        shortcodes,
        tera,
        base,
        code: None,
        calls: HashMap::new(),
        placeholders: Placeholders::for_body(body),
    };
    let mut markdown = String::with_capacity(body.len() + body.len() / 4);
    markdown.push_str(&body[..first]);
    expander.expand_from(first, &Nesting::Top, &mut markdown)?;
    Ok(Expanded { markdown: Cow::Owned(markdown), placeholders: expander.placeholders })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Nesting {
    Top,
    /// Inside the body of the shortcode whose opening tag spans this range.
    Body(Range<usize>),
}

struct Expander<'a, 'r> {
    text: &'a str,
    shortcodes: &'r Shortcodes,
    tera: &'r Tera,
    base: &'r Context,
    /// Byte ranges of code spans and code blocks, found when the first tag needs them.
    code: Option<Vec<Range<usize>>>,
    /// Calls so far per shortcode, for `nth`.
    calls: HashMap<&'a str, usize>,
    placeholders: Placeholders,
}

impl<'a, 'r> Expander<'a, 'r> {
    /// Copies the text from `pos` to `out`, expanding tags, up to the end of the text or, in a
    /// body, through its `{% end %}`; returns the offset after that `{% end %}`.
    fn expand_from(&mut self, mut pos: usize, nesting: &Nesting, out: &mut String) -> Result<usize, ShortcodeError> {
        while let Some(at) = next_opening(self.text, pos) {
            out.push_str(&self.text[pos..at]);
            let parsed = call::tag_at(self.text, at);
            let is_tag = !matches!(parsed, Ok(None) | Ok(Some(Parsed { tag: Tag::Escaped { .. }, .. })));
            let in_code = is_tag && self.in_code(at);
            // Code shows template syntax more often than it calls shortcodes: there, what is
            // not a call, or ends no body, is text, as Zola leaves it.
            let lone_end = matches!(parsed, Ok(Some(Parsed { tag: Tag::BodyEnd, .. }))) && *nesting == Nesting::Top;
            if in_code && (parsed.is_err() || lone_end) {
                out.push_str(&self.text[at..at + 2]);
                pos = at + 2;
                continue;
            }
            pos = match parsed {
                Ok(None) => {
                    out.push_str(&self.text[at..at + 2]);
                    at + 2
                }
                Err(problem) => {
                    let quoted = excerpt(self.text, at..line_end(self.text, at));
                    return Err(self.error(at, format!("bad shortcode `{quoted}`: {problem}")));
                }
                Ok(Some(Parsed { tag: Tag::Escaped { open, inner, close }, end })) => {
                    out.push_str(open);
                    out.push_str(inner);
                    out.push_str(close);
                    end
                }
                Ok(Some(Parsed { tag: Tag::Inline(call), end })) => {
                    let nth = self.count(at..end, &call)?;
                    self.render(at..end, &call, nth, None, Placing { nesting, in_code }, out)?;
                    end
                }
                Ok(Some(Parsed { tag: Tag::BodyStart(call), end })) => {
                    // Counted before its body is read: `nth` follows the order of the opening tags.
                    let nth = self.count(at..end, &call)?;
                    let mut body = String::new();
                    let after = self.expand_from(end, &Nesting::Body(at..end), &mut body)?;
                    let body = body.strip_prefix("\r\n").or_else(|| body.strip_prefix('\n')).unwrap_or(&body);
                    let body = body.strip_suffix('\n').map_or(body, |b| b.strip_suffix('\r').unwrap_or(b));
                    self.render(at..end, &call, nth, Some(body), Placing { nesting, in_code }, out)?;
                    after
                }
                Ok(Some(Parsed { tag: Tag::BodyEnd, end })) => match nesting {
                    Nesting::Body(_) => return Ok(end),
                    Nesting::Top => {
                        let message = "`{% end %}` closes no shortcode: a body shortcode opens with \
                                       `{% name(args) %}` (write `{%/* end */%}` to show the text)";
                        return Err(self.error(at, message.to_string()));
                    }
                },
            };
        }
        out.push_str(&self.text[pos..]);
        match nesting {
            Nesting::Top => Ok(self.text.len()),
            Nesting::Body(opening) => {
                let quoted = excerpt(self.text, opening.clone());
                let message = format!("body shortcode `{quoted}` is never closed: end its body with `{{% end %}}`");
                Err(self.error(opening.start, message))
            }
        }
    }

    /// Checks that the shortcode exists and counts the call.
    fn count(&mut self, span: Range<usize>, call: &Call<'a>) -> Result<usize, ShortcodeError> {
        self.template(span, call)?;
        let calls = self.calls.entry(call.name).or_insert(0);
        *calls += 1;
        Ok(*calls)
    }

    fn render(
        &mut self,
        span: Range<usize>,
        call: &Call<'a>,
        nth: usize,
        body: Option<&str>,
        placing: Placing<'_>,
        out: &mut String,
    ) -> Result<(), ShortcodeError> {
        let (template, is_html) = self.template(span.clone(), call)?;
        let mut context = self.base.clone();
        context.insert("nth", &nth);
        for (arg, value) in &call.args {
            if *arg == "lang" || !self.base.contains_key(arg) {
                context.insert(*arg, value);
            }
        }
        if let Some(body) = body {
            context.insert("body", body);
        }
        let output = self.tera.render(template, &context).map_err(|e| {
            let (name, quoted, cause) = (call.name, excerpt(self.text, span.clone()), super::error_chain(&e));
            let at = match super::template_errors::locate(&e, template, self.tera, &self.shortcodes.files) {
                Some((file, Some(line))) => format!(" at {}:{line}", file.display()),
                Some((file, None)) => format!(" in {}", file.display()),
                None => String::new(),
            };
            self.error(span.start, format!("shortcode `{name}` failed in `{quoted}`{at}: {cause}"))
        })?;
        // Inside a body the output becomes part of the outer shortcode's `body`, which that
        // template places itself; in code it is text of the code.
        if is_html && *placing.nesting == Nesting::Top && !placing.in_code {
            self.placeholders.hold(output, out);
        } else {
            out.push_str(&output);
        }
        Ok(())
    }

    /// The template's name, and whether it is HTML.
    fn template(&self, span: Range<usize>, call: &Call<'_>) -> Result<(&'r str, bool), ShortcodeError> {
        let name = call.name;
        match self.shortcodes.by_name.get(name) {
            Some(Template::Html(template)) => Ok((template, true)),
            Some(Template::Markdown(template)) => Ok((template, false)),
            Some(Template::Ambiguous) => {
                let quoted = excerpt(self.text, span.clone());
                let message = format!(
                    "shortcode `{name}` in `{quoted}` has two templates, shortcodes/{name}.html and \
                     shortcodes/{name}.md: keep one"
                );
                Err(self.error(span.start, message))
            }
            None => {
                let quoted = excerpt(self.text, span.clone());
                let message = format!(
                    "unknown shortcode `{name}` in `{quoted}`: there is no templates/shortcodes/{name}.html \
                     or {name}.md (to show the text as is, escape it: `{{{{/* … */}}}}` or `{{%/* … */%}}`)"
                );
                Err(self.error(span.start, message))
            }
        }
    }

    fn in_code(&mut self, offset: usize) -> bool {
        let text = self.text;
        let code = self.code.get_or_insert_with(|| code_ranges(text));
        let after = code.partition_point(|range| range.start <= offset);
        after > 0 && code[after - 1].contains(&offset)
    }

    fn error(&self, offset: usize, message: String) -> ShortcodeError {
        ShortcodeError { line: line_of(self.text, offset), message }
    }
}

/// `text` as far as its readable words go before shortcodes are expanded: every call and
/// `{% end %}` left out, escapes written out. Resolve takes heading ids from it to check `@/`
/// anchors, so a heading with an HTML shortcode gets the id the render gives it (a Markdown
/// shortcode's output, which the render does count, is not known yet then).
pub fn without_calls(text: &str) -> Cow<'_, str> {
    let Some(first) = next_opening(text, 0) else { return Cow::Borrowed(text) };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..first]);
    let mut pos = first;
    while let Some(at) = next_opening(text, pos) {
        out.push_str(&text[pos..at]);
        pos = match call::tag_at(text, at) {
            Ok(Some(Parsed { tag: Tag::Escaped { open, inner, close }, end })) => {
                out.push_str(open);
                out.push_str(inner);
                out.push_str(close);
                end
            }
            Ok(Some(Parsed { end, .. })) => end,
            Ok(None) | Err(_) => {
                out.push_str(&text[at..at + 2]);
                at + 2
            }
        };
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

/// Where a shortcode's output goes.
#[derive(Clone, Copy)]
struct Placing<'n> {
    nesting: &'n Nesting,
    in_code: bool,
}

/// The next `{{` or `{%` from `from`: the only scan a body without shortcodes costs.
fn next_opening(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = from;
    while let Some(found) = text[pos..].find('{') {
        let at = pos + found;
        if matches!(bytes.get(at + 1), Some(b'{' | b'%')) {
            return Some(at);
        }
        pos = at + 1;
    }
    None
}

/// Code spans and blocks as the page's Markdown renderer will see them, in order.
fn code_ranges(text: &str) -> Vec<Range<usize>> {
    Parser::new_ext(text, markdown_options())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Code(_) | Event::Start(MarkdownTag::CodeBlock(_)) => Some(range),
            _ => None,
        })
        .collect()
}

fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |length| at + length)
}

/// The call as the author wrote it, for messages: its first line, at most 80 characters.
fn excerpt(text: &str, span: Range<usize>) -> String {
    let whole = &text[span];
    let line = whole.split('\n').next().unwrap_or("").trim_end_matches('\r');
    let shown: String = line.chars().take(80).collect();
    if shown.len() < whole.trim_end().len() { format!("{shown}…") } else { shown }
}
