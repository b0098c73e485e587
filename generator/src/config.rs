//! The site's `zola.toml` (or the older `config.toml`): every key Zola 0.22 documents, plus
//! Pledge's `[[campaigns]]`. Unknown keys are refused, so a typo fails the build with its line.

use std::collections::BTreeMap;
use std::path::Path;

use campaigns::{CampaignDefinition, Campaigns};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::BuildError;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub base_url: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "default_language")]
    pub default_language: String,
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default = "default_output_dir")]
    pub output_dir: String,
    #[serde(default)]
    pub preserve_dotfiles_in_output: bool,
    #[serde(default)]
    pub compile_sass: bool,
    #[serde(default)]
    pub minify_html: bool,
    #[serde(default)]
    pub ignored_content: Vec<String>,
    #[serde(default)]
    pub ignored_static: Vec<String>,
    #[serde(default, alias = "generate_feed")]
    pub generate_feeds: bool,
    #[serde(default)]
    pub exclude_paginated_pages_in_sitemap: PaginatedInSitemap,
    #[serde(default = "default_feed_filenames")]
    pub feed_filenames: Vec<String>,
    /// The pre-0.19 spelling of `feed_filenames`, folded into it by [`SiteConfig::parse`].
    #[serde(default, skip_serializing)]
    feed_filename: Option<String>,
    #[serde(default)]
    pub feed_limit: Option<usize>,
    #[serde(default)]
    pub hard_link_static: bool,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub taxonomies: Vec<TaxonomyConfig>,
    #[serde(default)]
    pub taxonomy_root: Option<String>,
    #[serde(default)]
    pub build_search_index: bool,
    #[serde(default = "yes")]
    pub generate_sitemap: bool,
    #[serde(default = "yes")]
    pub generate_robots_txt: bool,
    #[serde(default)]
    pub markdown: MarkdownConfig,
    #[serde(default)]
    pub link_checker: LinkCheckerConfig,
    #[serde(default)]
    pub slugify: SlugifyConfig,
    #[serde(default)]
    pub search: SearchConfig,
    /// UI strings of the default language, for `trans()`.
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
    #[serde(default)]
    pub languages: BTreeMap<String, LanguageConfig>,
    #[serde(default)]
    pub extra: toml::Table,
    /// Pledge's own: the campaigns the pages show and the API takes donations for.
    #[serde(default, skip_serializing)]
    pub campaigns: Vec<CampaignDefinition>,
}

/// A `[languages.xx]` table: what a language may set differently from the default one.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "generate_feed")]
    pub generate_feeds: Option<bool>,
    #[serde(default)]
    pub feed_filenames: Option<Vec<String>>,
    #[serde(default)]
    pub taxonomies: Option<Vec<TaxonomyConfig>>,
    #[serde(default)]
    pub build_search_index: Option<bool>,
    #[serde(default)]
    pub search: Option<SearchConfig>,
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
}

/// One entry of `taxonomies = [...]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyConfig {
    pub name: String,
    #[serde(default)]
    pub paginate_by: Option<usize>,
    #[serde(default)]
    pub paginate_path: Option<String>,
    #[serde(default, alias = "rss")]
    pub feed: bool,
    #[serde(default = "yes")]
    pub render: bool,
    /// Filled in by the generator (the language the taxonomy belongs to), as Zola does.
    #[serde(default)]
    pub lang: String,
    /// Filled in by the generator from `name` and `[slugify] taxonomies`.
    #[serde(default)]
    pub slug: String,
}

impl TaxonomyConfig {
    pub fn paginate_path(&self) -> &str {
        self.paginate_path.as_deref().unwrap_or("page")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PaginatedInSitemap {
    #[default]
    None,
    All,
}

/// `[markdown]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MarkdownConfig {
    #[serde(default)]
    pub render_emoji: bool,
    #[serde(default)]
    pub external_links_class: Option<String>,
    #[serde(default)]
    pub external_links_target_blank: bool,
    #[serde(default)]
    pub external_links_no_follow: bool,
    #[serde(default)]
    pub external_links_no_referrer: bool,
    #[serde(default)]
    pub external_links_external: Option<bool>,
    #[serde(default)]
    pub smart_punctuation: bool,
    #[serde(default)]
    pub definition_list: bool,
    #[serde(default)]
    pub lazy_async_image: bool,
    #[serde(default)]
    pub bottom_footnotes: bool,
    #[serde(default)]
    pub github_alerts: bool,
    #[serde(default)]
    pub insert_anchor_links: Option<String>,
    /// Zola 0.22's code highlighting: the table present (it must name a theme) turns it on.
    #[serde(default)]
    pub highlighting: Option<HighlightingConfig>,
    /// Zola before 0.22 kept highlighting keys here (syntect's); accepted so older sites
    /// still build, and ignored: only `[markdown.highlighting]` turns highlighting on.
    #[serde(default)]
    pub highlight_code: Option<bool>,
    #[serde(default)]
    pub highlight_theme: Option<String>,
    #[serde(default)]
    pub highlight_themes_css: Option<toml::Value>,
    #[serde(default)]
    pub extra_syntaxes_and_themes: Option<Vec<String>>,
}

/// `[markdown.highlighting]` as Zola 0.22 reads it. Read through [`HighlightingTable`] so a
/// table naming no theme fails when the config loads, as Zola's does, and written back the same
/// shape so templates can test `config.markdown.highlighting.style` as they do under Zola.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "HighlightingTable", into = "HighlightingTable")]
pub struct HighlightingConfig {
    pub themes: HighlightThemes,
    pub style: HighlightStyle,
    /// An unknown fence language is an error rather than plain text.
    pub error_on_missing_language: bool,
    /// TextMate grammar (`.json`) files, relative to the site's root.
    pub extra_grammars: Vec<String>,
    /// TextMate theme (`.json`) files, relative to the site's root.
    pub extra_themes: Vec<String>,
    /// Which element gets `data-lang` and the fence's `key=value` pairs (`name=`).
    pub data_attr_position: DataAttrPosition,
}

/// One theme, or a light and a dark one chosen by the reader's colour scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HighlightThemes {
    Single(String),
    Dual { light: String, dark: String },
}

/// Colours as `style` attributes, or as classes with a stylesheet per theme (what a page
/// whose CSP refuses inline styles needs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HighlightStyle {
    #[default]
    Inline,
    Class,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataAttrPosition {
    Pre,
    #[default]
    Code,
    Both,
    None,
}

/// `[markdown.highlighting]` key by key, as written in `zola.toml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HighlightingTable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light_theme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dark_theme: Option<String>,
    #[serde(default)]
    pub style: HighlightStyle,
    #[serde(default)]
    pub error_on_missing_language: bool,
    #[serde(default)]
    pub extra_grammars: Vec<String>,
    #[serde(default)]
    pub extra_themes: Vec<String>,
    #[serde(default)]
    pub data_attr_position: DataAttrPosition,
}

impl TryFrom<HighlightingTable> for HighlightingConfig {
    type Error = String;

    fn try_from(table: HighlightingTable) -> Result<Self, String> {
        // Zola tries `theme` first, so with both forms set `theme` wins there too.
        let themes = match (table.theme, table.light_theme, table.dark_theme) {
            (Some(theme), _, _) => HighlightThemes::Single(theme),
            (None, Some(light), Some(dark)) => HighlightThemes::Dual { light, dark },
            _ => return Err("[markdown.highlighting] needs `theme`, or both `light_theme` and `dark_theme`".into()),
        };
        Ok(Self {
            themes,
            style: table.style,
            error_on_missing_language: table.error_on_missing_language,
            extra_grammars: table.extra_grammars,
            extra_themes: table.extra_themes,
            data_attr_position: table.data_attr_position,
        })
    }
}

impl From<HighlightingConfig> for HighlightingTable {
    fn from(config: HighlightingConfig) -> Self {
        let (theme, light_theme, dark_theme) = match config.themes {
            HighlightThemes::Single(theme) => (Some(theme), None, None),
            HighlightThemes::Dual { light, dark } => (None, Some(light), Some(dark)),
        };
        Self {
            theme,
            light_theme,
            dark_theme,
            style: config.style,
            error_on_missing_language: config.error_on_missing_language,
            extra_grammars: config.extra_grammars,
            extra_themes: config.extra_themes,
            data_attr_position: config.data_attr_position,
        }
    }
}

/// `[search]`: what the search index holds, with Zola's defaults (title and body).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    pub include_title: bool,
    pub include_description: bool,
    pub include_date: bool,
    pub include_path: bool,
    pub include_content: bool,
    /// Characters of body text kept per document.
    pub truncate_content_length: Option<usize>,
    pub index_format: IndexFormat,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            include_title: true,
            include_description: false,
            include_date: false,
            include_path: false,
            include_content: true,
            truncate_content_length: None,
            index_format: IndexFormat::default(),
        }
    }
}

/// `[search] index_format`: which library reads the index, as a script or as JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexFormat {
    #[default]
    ElasticlunrJavascript,
    ElasticlunrJson,
    FuseJavascript,
    FuseJson,
}

/// `[link_checker]`: used by `pledge check --external-links`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCheckerConfig {
    #[serde(default)]
    pub skip_prefixes: Vec<String>,
    #[serde(default)]
    pub skip_anchor_prefixes: Vec<String>,
    #[serde(default)]
    pub internal_level: Option<String>,
    #[serde(default)]
    pub external_level: Option<String>,
}

/// How a kind of name becomes a URL segment or an anchor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlugStrategy {
    /// ASCII, lowercase, words joined by `-`.
    #[default]
    On,
    /// Only characters that cannot be in a file name are removed.
    Safe,
    Off,
}

/// `[slugify]`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlugifyConfig {
    #[serde(default)]
    pub paths: SlugStrategy,
    #[serde(default)]
    pub taxonomies: SlugStrategy,
    #[serde(default)]
    pub anchors: SlugStrategy,
    #[serde(default)]
    pub paths_keep_dates: bool,
}

fn default_language() -> String {
    "en".into()
}
fn default_output_dir() -> String {
    "public".into()
}
fn default_feed_filenames() -> Vec<String> {
    vec!["atom.xml".into()]
}
fn yes() -> bool {
    true
}

impl SiteConfig {
    pub fn load(path: &Path) -> Result<(Self, Campaigns), BuildError> {
        let text = std::fs::read_to_string(path).map_err(|source| BuildError::io(path, source))?;
        Self::parse(&text).map_err(|message| BuildError::Config(format!("{}: {message}", path.display())))
    }

    /// Parses and validates; the error text carries TOML's own line and column.
    pub fn parse(text: &str) -> Result<(Self, Campaigns), String> {
        let mut config: SiteConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.base_url = config.base_url.trim_end_matches('/').to_string();
        if let Some(name) = config.feed_filename.take() {
            config.feed_filenames = vec![name];
        }
        let strategy = config.slugify.taxonomies;
        let default_language = config.default_language.clone();
        for taxonomy in &mut config.taxonomies {
            taxonomy.lang = default_language.clone();
            taxonomy.slug = crate::slugs::slugify(&taxonomy.name, strategy);
        }
        for (code, language) in &mut config.languages {
            for taxonomy in language.taxonomies.iter_mut().flatten() {
                taxonomy.lang = code.clone();
                taxonomy.slug = crate::slugs::slugify(&taxonomy.name, strategy);
            }
        }
        let campaigns = Campaigns::new(&config.campaigns, &config.default_language, config.languages.keys().cloned())
            .map_err(|e| e.to_string())?;
        Ok((config, campaigns))
    }

    /// Every language the site is written in, default first.
    pub fn all_languages(&self) -> Vec<&str> {
        std::iter::once(self.default_language.as_str())
            .chain(self.languages.keys().map(String::as_str).filter(|l| *l != self.default_language))
            .collect()
    }

    pub fn is_language(&self, code: &str) -> bool {
        code == self.default_language || self.languages.contains_key(code)
    }

    /// The taxonomies a language's pages may use: its own list, or the default language's.
    pub fn taxonomies_of(&self, lang: &str) -> &[TaxonomyConfig] {
        if lang == self.default_language {
            return &self.taxonomies;
        }
        self.languages.get(lang).and_then(|l| l.taxonomies.as_deref()).unwrap_or(&[])
    }

    /// Whether a language's feeds are generated.
    pub fn generates_feeds(&self, lang: &str) -> bool {
        self.languages.get(lang).and_then(|l| l.generate_feeds).unwrap_or(self.generate_feeds)
    }

    pub fn feed_filenames_of(&self, lang: &str) -> &[String] {
        self.languages.get(lang).and_then(|l| l.feed_filenames.as_deref()).unwrap_or(&self.feed_filenames)
    }

    /// A UI string in a language, falling back to the default language's.
    pub fn translation(&self, lang: &str, key: &str) -> Option<&str> {
        self.languages
            .get(lang)
            .and_then(|l| l.translations.get(key))
            .or_else(|| self.translations.get(key))
            .map(String::as_str)
    }

    /// The path prefix of a language: empty for the default, `/ar` for Arabic.
    pub fn language_prefix(&self, lang: &str) -> String {
        if lang == self.default_language { String::new() } else { format!("/{lang}") }
    }

    pub fn permalink(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// What templates see as `config`, with the language's own title and description, as a
    /// value made once per language and shared by every render.
    pub fn template_value(&self, lang: &str) -> serde_json::Value {
        let language = self.languages.get(lang);
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            let title = language.and_then(|l| l.title.clone()).or_else(|| self.title.clone());
            let description = language.and_then(|l| l.description.clone()).or_else(|| self.description.clone());
            object.insert("title".into(), title.into());
            object.insert("description".into(), description.into());
            object.insert("taxonomies".into(), serde_json::to_value(self.taxonomies_of(lang)).unwrap_or_default());
            object.insert("generate_feeds".into(), self.generates_feeds(lang).into());
            object.insert(
                "feed_filenames".into(),
                serde_json::to_value(self.feed_filenames_of(lang)).unwrap_or_default(),
            );
            object.insert("mode".into(), "build".into());
            // As in Zola, the map holds the default language too, so templates can list every
            // language with `{% for code, options in config.languages %}`.
            if let Some(Value::Object(languages)) = object.get_mut("languages") {
                languages.entry(self.default_language.clone()).or_insert_with(|| {
                    serde_json::json!({ "title": self.title, "description": self.description, "generate_feeds": self.generate_feeds })
                });
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_fails_with_its_line() {
        let error = SiteConfig::parse("base_url = \"https://x.org\"\ntitel = \"oops\"\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("titel"), "{error}");
    }

    #[test]
    fn translations_fall_back_to_the_default_language() {
        let (config, _) = SiteConfig::parse(
            "base_url = \"https://x.org/\"\n[translations]\ndonate = \"Donate\"\nhome = \"Home\"\n\
             [languages.ar.translations]\ndonate = \"تبرع\"\n",
        )
        .unwrap();
        assert_eq!(config.base_url, "https://x.org");
        assert_eq!(config.translation("ar", "donate"), Some("تبرع"));
        assert_eq!(config.translation("ar", "home"), Some("Home"));
        assert_eq!(config.language_prefix("ar"), "/ar");
        assert_eq!(config.all_languages(), vec!["en", "ar"]);
    }

    #[test]
    fn every_documented_zola_key_is_accepted() {
        let text = r#"
base_url = "https://x.org"
title = "T"
description = "D"
default_language = "en"
theme = "t"
output_dir = "docs"
preserve_dotfiles_in_output = true
compile_sass = true
minify_html = true
ignored_content = ["*.xlsx"]
ignored_static = ["*.psd"]
generate_feeds = true
exclude_paginated_pages_in_sitemap = "all"
feed_filenames = ["atom.xml", "rss.xml"]
feed_limit = 20
hard_link_static = true
author = "A"
taxonomies = [{ name = "Tags Ü", feed = true, paginate_by = 5, paginate_path = "p" }]
taxonomy_root = "blog"
build_search_index = true
generate_sitemap = false
generate_robots_txt = false
[markdown]
render_emoji = true
external_links_class = "ext"
external_links_target_blank = true
external_links_no_follow = true
external_links_no_referrer = true
external_links_external = true
smart_punctuation = true
definition_list = true
lazy_async_image = true
bottom_footnotes = true
github_alerts = true
insert_anchor_links = "left"
[markdown.highlighting]
theme = "gruvbox-dark"
[link_checker]
skip_prefixes = ["http://x"]
skip_anchor_prefixes = ["https://y"]
internal_level = "warn"
external_level = "warn"
[slugify]
paths = "safe"
taxonomies = "on"
anchors = "off"
paths_keep_dates = true
[search]
include_title = true
index_format = "fuse_json"
[translations]
k = "v"
[languages.fr]
title = "F"
generate_feeds = false
feed_filenames = ["rss.xml"]
taxonomies = [{ name = "auteurs" }]
build_search_index = false
[languages.fr.translations]
k = "w"
[extra]
anything = [1, 2]
"#;
        let (config, _) = SiteConfig::parse(text).unwrap();
        assert_eq!(config.taxonomies[0].slug, "tags-u");
        assert_eq!(config.taxonomies[0].paginate_path(), "p");
        assert_eq!(config.taxonomies_of("fr")[0].lang, "fr");
        assert!(!config.generates_feeds("fr") && config.generates_feeds("en"));
        assert_eq!(config.slugify.paths, SlugStrategy::Safe);
        let value = config.template_value("fr");
        assert_eq!(value["title"], "F");
        assert_eq!(value["taxonomies"][0]["name"], "auteurs");
        assert!(value.get("campaigns").is_none());
        let languages: Vec<&String> = value["languages"].as_object().unwrap().keys().collect();
        assert_eq!(languages, ["en", "fr"], "the default language is in the map too");
    }

    #[test]
    fn the_older_feed_keys_still_work() {
        let (config, _) =
            SiteConfig::parse("base_url = \"https://x.org\"\ngenerate_feed = true\nfeed_filename = \"rss.xml\"\n")
                .unwrap();
        assert!(config.generate_feeds);
        assert_eq!(config.feed_filenames, ["rss.xml"]);
    }
}
