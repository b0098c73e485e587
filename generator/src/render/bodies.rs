//! Bodies to HTML: shortcodes expanded, Markdown rendered with the site's `[markdown]`
//! settings and its `anchor-link.html` / `summary-cutoff.html` templates, shortcode HTML put
//! back. One call per page or section, run in parallel by the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};
use tera::{Context, Tera};

use super::markdown::highlight::Highlighter;
use super::markdown::{self, AnchorContext, AnchorLinks, AnchorSlugs, MarkdownSettings, SummaryCutoff};
use super::shortcodes::{self, Shortcodes};
use super::views::RenderedBody;
use crate::config::{SiteConfig, SlugStrategy};
use crate::problem::Problem;
use crate::resolve::Placement;

/// What every body's rendering shares.
pub struct BodyRenderer<'a> {
    pub config: &'a SiteConfig,
    pub config_values: &'a HashMap<String, Value>,
    pub internal_links: &'a HashMap<String, String>,
    pub tera: &'a Tera,
    /// Each template's file, so a broken `anchor-link.html` is reported at its line.
    pub template_files: &'a std::collections::BTreeMap<String, std::path::PathBuf>,
    pub shortcodes: Shortcodes,
    pub highlighter: Option<Arc<Highlighter>>,
}

impl BodyRenderer<'_> {
    /// `kind` is `page` or `section`: the variable shortcodes see the content as;
    /// `anchor_links` the section's `insert_anchor_links`, if it sets one.
    pub fn render(
        &self,
        placement: &Placement,
        kind: &str,
        title: Option<&str>,
        anchor_links: Option<&str>,
    ) -> Result<RenderedBody, Problem> {
        let body = &placement.body;
        let expanded = if self.shortcodes.is_empty() {
            None
        } else {
            let context = self.shortcode_context(placement, kind, title);
            let expanded = shortcodes::expand(body, &self.shortcodes, self.tera, &context).map_err(|e| {
                Problem::at(&placement.file, placement.body_line + e.line - 1, format!("shortcode: {}", e.message))
            })?;
            Some(expanded)
        };
        let markdown_text = expanded.as_ref().map_or(body.as_str(), |e| e.markdown.as_ref());
        let settings = markdown_settings(self.config, anchor_links, self.highlighter.as_ref())
            .map_err(|message| Problem::in_file(&placement.file, message))?;
        let page = markdown::Page {
            internal_links: self.internal_links,
            base_url: &self.config.base_url,
            permalink: &placement.permalink,
            held_marker: expanded.as_ref().map(shortcodes::Expanded::marker),
        };
        let templates = SiteTemplates { tera: self.tera, lang: &placement.lang, failed: Mutex::new(None) };
        let rendered = markdown::render(markdown_text, &page, &settings, &templates);
        if let Some((template, error)) = templates.failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(super::template_errors::render_problem(
                &error,
                template,
                self.tera,
                self.template_files,
                Some(&placement.file),
            ));
        }
        if let Some(language) = rendered.unknown_languages.first()
            && self.highlighter.as_ref().is_some_and(|h| h.error_on_missing_language())
        {
            let message =
                format!("a code block is in `{language}`, which no grammar highlights (error_on_missing_language)");
            return Err(match Highlighter::fence_line(body, language) {
                Some(line) => Problem::at(&placement.file, placement.body_line + line, message),
                None => Problem::in_file(&placement.file, message),
            });
        }
        let restore = |html: String| match &expanded {
            Some(expanded) => expanded.restore(html),
            None => html,
        };
        Ok(RenderedBody {
            html: restore(rendered.html),
            summary: rendered.summary.map(restore),
            toc: serde_json::to_value(&rendered.toc).unwrap_or_default(),
            word_count: rendered.word_count,
            reading_time: rendered.reading_time,
        })
    }

    /// What a shortcode sees besides its arguments: `config`, `lang`, and the page or section
    /// it is in (its place and front matter; its content is what is being rendered).
    fn shortcode_context(&self, placement: &Placement, kind: &str, title: Option<&str>) -> Context {
        let mut content = Map::new();
        content.insert("title".into(), title.into());
        content.insert("path".into(), placement.path.clone().into());
        content.insert("permalink".into(), placement.permalink.clone().into());
        content.insert("relative_path".into(), placement.relative.clone().into());
        content.insert("lang".into(), placement.lang.clone().into());
        content.insert("assets".into(), serde_json::to_value(&placement.assets).unwrap_or_default());
        let mut context = Map::new();
        let config =
            self.config_values.get(&placement.lang).or_else(|| self.config_values.get(&self.config.default_language));
        context.insert("config".into(), config.cloned().unwrap_or_default());
        context.insert("lang".into(), placement.lang.clone().into());
        context.insert(kind.into(), Value::Object(content));
        Context::from_value(Value::Object(context)).unwrap_or_default()
    }
}

/// The `[markdown]` settings with the section's `insert_anchor_links`, if it sets one, and the
/// build's highlighter, if `[markdown.highlighting]` asks for one.
pub fn markdown_settings(
    config: &SiteConfig,
    anchor_links: Option<&str>,
    highlighter: Option<&Arc<Highlighter>>,
) -> Result<MarkdownSettings, String> {
    let markdown = &config.markdown;
    let anchor_links = anchor_links.or(markdown.insert_anchor_links.as_deref()).unwrap_or("none");
    let insert_anchor_links = match anchor_links {
        "none" => AnchorLinks::None,
        "left" => AnchorLinks::Left,
        "right" => AnchorLinks::Right,
        "heading" => AnchorLinks::Heading,
        other => return Err(format!("insert_anchor_links = \"{other}\" is not one of none, left, right, heading")),
    };
    Ok(MarkdownSettings {
        smart_punctuation: markdown.smart_punctuation,
        render_emoji: markdown.render_emoji,
        external_links_target_blank: markdown.external_links_target_blank,
        external_links_no_follow: markdown.external_links_no_follow,
        external_links_no_referrer: markdown.external_links_no_referrer,
        external_links_class: markdown.external_links_class.clone(),
        definition_list: markdown.definition_list,
        bottom_footnotes: markdown.bottom_footnotes,
        github_alerts: markdown.github_alerts,
        lazy_async_image: markdown.lazy_async_image,
        insert_anchor_links,
        slugify_anchors: config.slugify.anchors.into(),
        highlighting: highlighter.cloned(),
    })
}

/// `[slugify] anchors` as the Markdown stage takes it.
impl From<SlugStrategy> for AnchorSlugs {
    fn from(strategy: SlugStrategy) -> Self {
        match strategy {
            SlugStrategy::On => Self::On,
            SlugStrategy::Safe => Self::Safe,
            SlugStrategy::Off => Self::Off,
        }
    }
}

/// The site's `anchor-link.html` and `summary-cutoff.html`, where it has them.
struct SiteTemplates<'a> {
    tera: &'a Tera,
    lang: &'a str,
    /// The first of them that failed to render. Markdown rendering cannot fail, so the body
    /// gets Zola's markup in its place and the caller reports the error.
    failed: Mutex<Option<(&'static str, tera::Error)>>,
}

impl SiteTemplates<'_> {
    fn render(&self, name: &'static str, fill: impl FnOnce(&mut Context)) -> Option<String> {
        self.tera.get_template(name).ok()?;
        let mut context = Context::new();
        context.insert("lang", self.lang);
        fill(&mut context);
        match self.tera.render(name, &context) {
            Ok(html) => Some(html),
            Err(error) => {
                let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                failed.get_or_insert((name, error));
                None
            }
        }
    }
}

impl markdown::Templates for SiteTemplates<'_> {
    fn anchor_link(&self, anchor: &AnchorContext) -> String {
        self.render("anchor-link.html", |c| {
            c.insert("id", anchor.id);
            c.insert("level", &anchor.level);
        })
        .unwrap_or_else(|| markdown::default_anchor_link(anchor))
    }

    fn summary_cutoff(&self, cutoff: &SummaryCutoff) -> String {
        self.render("summary-cutoff.html", |c| c.insert("summary", cutoff.summary))
            .unwrap_or_else(|| markdown::default_summary_cutoff(cutoff))
    }
}
