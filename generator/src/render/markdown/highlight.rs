//! Fenced code blocks highlighted as Zola 0.22 does it: giallo's TextMate grammars and themes,
//! the fence annotations `linenos`, `linenostart=`, `hl_lines=`, `hide_lines=` and `name=`, and
//! colours either inline (`style = "inline"`) or as `z-` classes (`style = "class"`) with one
//! stylesheet per theme, which is what a page whose CSP refuses `style` attributes needs.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use giallo::{HighlightOptions, HtmlRenderer, PLAIN_GRAMMAR_NAME, Registry, ThemeVariant, parse_markdown_fence};

use crate::config::{DataAttrPosition, HighlightStyle, HighlightThemes, HighlightingConfig};

/// Class names in `style = "class"` start with this, as Zola's do.
const CLASS_PREFIX: &str = "z-";

/// A site's highlighting: its configuration and the grammars and themes it may use.
pub struct Highlighter {
    config: HighlightingConfig,
    site_root: PathBuf,
    registry: Cow<'static, Registry>,
}

/// A highlighted block and whether its language had to fall back to plain text.
pub struct Highlighted {
    pub html: String,
    pub unknown_language: Option<String>,
}

impl Highlighter {
    /// The highlighter for a `[markdown.highlighting]` table, made once per build and shared by
    /// the bodies rendering in parallel; the built-in registry is decompressed once per process.
    /// `extra_grammars` and `extra_themes` are read relative to `site_root`, so an edited theme
    /// file is read again by the next build of `pledge serve`.
    pub fn for_site(config: &HighlightingConfig, site_root: &Path) -> Result<Arc<Self>, String> {
        Self::new(config, site_root).map(Arc::new)
    }

    fn new(config: &HighlightingConfig, site_root: &Path) -> Result<Self, String> {
        let builtin = builtin_registry()?;
        let registry = if config.extra_grammars.is_empty() && config.extra_themes.is_empty() {
            Cow::Borrowed(builtin)
        } else {
            Cow::Owned(with_extras(builtin, config, site_root)?)
        };
        for theme in theme_names(&config.themes) {
            if !registry.contains_theme(theme) {
                return Err(format!("[markdown.highlighting]: theme `{theme}` does not exist"));
            }
        }
        Ok(Self { config: config.clone(), site_root: site_root.to_path_buf(), registry })
    }

    /// Whether a fence's info string names a language: blocks without one keep the plain
    /// `<pre><code>` they always had. (giallo's fence parser would call them `plain` and give
    /// them the theme's colours, which is likely what Zola 0.22 writes; Pledge keeps its old
    /// output there so unhighlighted blocks look as the site's own CSS styles them.)
    pub fn handles(&self, info: &str) -> bool {
        !info.trim().is_empty() && !parse_markdown_fence(info).lang.is_empty()
    }

    /// The block's HTML, or `None` when giallo could not tokenize it (the caller then writes the
    /// block unhighlighted rather than lose it).
    /// The 0-based line of `markdown` that opens the first fence in `language`, for a problem
    /// that names it. Fences inside lists and quotes are found too; ones a shortcode wrote are not.
    pub fn fence_line(markdown: &str, language: &str) -> Option<usize> {
        markdown.lines().position(|line| {
            let line = line.trim_start_matches([' ', '\t', '>', '-', '*', '+']);
            let info = line.strip_prefix("```").or_else(|| line.strip_prefix("~~~"));
            info.is_some_and(|info| parse_markdown_fence(info.trim_start_matches(['`', '~'])).lang == language)
        })
    }

    pub fn highlight(&self, info: &str, code: &str) -> Option<Highlighted> {
        let fence = parse_markdown_fence(info);
        let unknown_language = (!self.registry.contains_grammar(&fence.lang)).then(|| fence.lang.clone());
        let language = if unknown_language.is_some() { PLAIN_GRAMMAR_NAME } else { fence.lang.as_str() };
        let themes = match &self.config.themes {
            HighlightThemes::Single(theme) => ThemeVariant::Single(theme.as_str()),
            HighlightThemes::Dual { light, dark } => ThemeVariant::Dual { light: light.as_str(), dark: dark.as_str() },
        };
        let options = HighlightOptions::new(language, themes).fallback_to_plain(true);
        let highlighted = match self.registry.highlight(code, &options) {
            Ok(highlighted) => highlighted,
            Err(error) => {
                tracing::warn!("code block in `{}` not highlighted: {error}", fence.lang);
                return None;
            }
        };
        let renderer = HtmlRenderer {
            // giallo writes these values into attributes as given, so they are escaped here.
            other_metadata: fence.rest.iter().map(|(key, value)| (key.clone(), escaped(value))).collect(),
            data_attr_position: data_attr_position(self.config.data_attr_position),
            css_class_prefix: (self.config.style == HighlightStyle::Class).then(|| CLASS_PREFIX.to_string()),
            ..HtmlRenderer::default()
        };
        Some(Highlighted { html: renderer.render(&highlighted, &fence.options), unknown_language })
    }

    /// The stylesheets `style = "class"` needs, named as Zola names them: `giallo.css` for one
    /// theme, `giallo-light.css` and `giallo-dark.css` for two. None for inline colours. The
    /// layout of lines and line numbers (`giallo::GIALLO_CSS`) is left to the site's own CSS,
    /// as Zola's documentation asks.
    pub fn stylesheets(&self) -> Vec<(&'static str, String)> {
        if self.config.style == HighlightStyle::Inline {
            return Vec::new();
        }
        // Every theme was checked when the highlighter was made.
        let failed = "theme checked when the highlighter was made";
        match &self.config.themes {
            HighlightThemes::Single(theme) => {
                vec![("giallo.css", self.registry.generate_css(theme, CLASS_PREFIX).expect(failed))]
            }
            HighlightThemes::Dual { light, dark } => {
                // The dual form prefixes each theme's classes differently (`z-l-`, `z-d-`),
                // matching what the renderer writes for two themes, so both sheets can be
                // linked at once with a `media` query each.
                let (light, dark) = self.registry.generate_dual_css(light, dark, CLASS_PREFIX).expect(failed);
                vec![("giallo-light.css", light), ("giallo-dark.css", dark)]
            }
        }
    }

    pub fn error_on_missing_language(&self) -> bool {
        self.config.error_on_missing_language
    }
}

/// Settings compare equal when their highlighting would: same configuration, same site.
impl PartialEq for Highlighter {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.site_root == other.site_root
    }
}

impl Eq for Highlighter {}

impl fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Highlighter").field("config", &self.config).field("site_root", &self.site_root).finish()
    }
}

/// giallo's grammars and themes, decompressed once per process: loading also replaces giallo's
/// global scope table, which must not happen while other threads highlight.
fn builtin_registry() -> Result<&'static Registry, String> {
    static BUILTIN: OnceLock<Result<Registry, String>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            let mut registry = Registry::builtin().map_err(|e| format!("loading giallo's grammars: {e}"))?;
            // Unknown languages fall back to this grammar, which matches nothing.
            if !registry.contains_grammar(PLAIN_GRAMMAR_NAME) {
                registry.add_plain_grammar(&[]).map_err(|e| format!("adding the plain grammar: {e}"))?;
                registry.link_grammars();
            }
            Ok(registry)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The built-in registry plus the site's own grammar and theme files.
fn with_extras(builtin: &Registry, config: &HighlightingConfig, site_root: &Path) -> Result<Registry, String> {
    let mut registry = builtin.clone();
    for file in &config.extra_grammars {
        let path = site_root.join(file);
        registry.add_grammar_from_path(&path).map_err(|e| format!("extra_grammars: {}: {e}", path.display()))?;
    }
    for file in &config.extra_themes {
        let path = site_root.join(file);
        registry.add_theme_from_path(&path).map_err(|e| format!("extra_themes: {}: {e}", path.display()))?;
    }
    // New grammars may include others, and others them.
    registry.link_grammars();
    Ok(registry)
}

fn theme_names(themes: &HighlightThemes) -> Vec<&str> {
    match themes {
        HighlightThemes::Single(theme) => vec![theme],
        HighlightThemes::Dual { light, dark } => vec![light, dark],
    }
}

fn data_attr_position(position: DataAttrPosition) -> giallo::DataAttrPosition {
    match position {
        DataAttrPosition::Pre => giallo::DataAttrPosition::Pre,
        DataAttrPosition::Code => giallo::DataAttrPosition::Code,
        DataAttrPosition::Both => giallo::DataAttrPosition::Both,
        DataAttrPosition::None => giallo::DataAttrPosition::None,
    }
}

fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    pulldown_cmark_escape::escape_html(&mut out, value).expect("writing to a String cannot fail");
    out
}
