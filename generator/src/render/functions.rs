//! The Tera functions templates call: Zola's `get_url`, `trans`, `get_page`, `get_section`,
//! `get_taxonomy_url`, `get_taxonomy`, `get_taxonomy_term`, and Pledge's `get_campaign`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tera::{Function, Result as TeraResult, Value, to_value};

use super::arguments::{optional, required};
use super::bodies::markdown_settings;
use super::markdown;
use super::markdown::highlight::Highlighter;
use super::views::{CampaignView, Views};
use super::zola_functions::FileHashes;
use crate::config::SiteConfig;
use crate::resolve::{ResolvedSite, Taxonomy, Term};

/// `get_url(path, lang?, trailing_slash?, cachebust?)`: `@/file.md` resolves to that content's
/// permalink; any other path is joined to `base_url` (after the language prefix, if `lang` is
/// given). `cachebust` appends `?h=` and the SHA-256 of the file the path names, found as
/// `get_hash` finds it (compiled Sass output is not searched: it is not a file yet).
pub struct GetUrl {
    pub config: Arc<SiteConfig>,
    pub internal_links: Arc<HashMap<String, String>>,
    pub hashes: FileHashes,
}

impl Function for GetUrl {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "get_url", "path")?;
        let lang: Option<String> = optional(args, "get_url", "lang")?;
        let trailing_slash: bool = optional(args, "get_url", "trailing_slash")?.unwrap_or(false);
        let cachebust: bool = optional(args, "get_url", "cachebust")?.unwrap_or(false);
        let mut url = if let Some(target) = path.strip_prefix("@/") {
            let (file, anchor) = target.split_once('#').map_or((target, None), |(f, a)| (f, Some(a)));
            // As in Zola, `lang` picks the translation: `@/about.md` with `ar` is `about.ar.md`.
            let translated = lang
                .filter(|l| *l != self.config.default_language)
                .and_then(|l| file.strip_suffix(".md").map(|stem| format!("{stem}.{l}.md")));
            let site_path = translated
                .and_then(|t| self.internal_links.get(&t))
                .or_else(|| self.internal_links.get(file))
                .ok_or_else(|| format!("get_url(): @/{file} is not a content file"))?;
            let mut url = self.config.permalink(site_path);
            if let Some(anchor) = anchor {
                url = format!("{url}#{anchor}");
            }
            url
        } else {
            let prefix = lang.map(|l| self.config.language_prefix(&l)).unwrap_or_default();
            format!("{}{prefix}/{}", self.config.base_url, path.trim_start_matches('/'))
        };
        if trailing_slash && !url.ends_with('/') {
            url.push('/');
        }
        if cachebust {
            let hash = self.hashes.sha256_hex(&path).map_err(|e| format!("get_url(cachebust=true): {e}"))?;
            url = format!("{url}?h={hash}");
        }
        Ok(Value::String(url))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// `markdown(inline=false)`: a string rendered as a body is, with the site's `[markdown]`
/// settings and `@/` links, but no shortcodes (as in Zola). `inline` drops the paragraph that
/// wraps a one-line text, for use inside an element.
pub struct MarkdownFilter {
    pub config: Arc<SiteConfig>,
    pub internal_links: Arc<HashMap<String, String>>,
    pub highlighter: Option<Arc<Highlighter>>,
}

impl tera::Filter for MarkdownFilter {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let text = value.as_str().ok_or_else(|| format!("markdown: expects a string, not {value}"))?;
        let inline: bool = optional(args, "markdown", "inline")?.unwrap_or(false);
        let settings =
            markdown_settings(&self.config, None, self.highlighter.as_ref()).map_err(|e| format!("markdown: {e}"))?;
        let page = markdown::Page {
            internal_links: &self.internal_links,
            base_url: &self.config.base_url,
            permalink: "",
            held_marker: None,
        };
        let html = markdown::render(text, &page, &settings, &markdown::BuiltinTemplates).html;
        let html = match inline {
            true => html.trim_start_matches("<p>").trim_end_matches('\n').trim_end_matches("</p>").to_owned(),
            false => html,
        };
        Ok(Value::String(html))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// `trans(key, lang?)`: a UI string from `[translations]` / `[languages.xx.translations]`.
pub struct Trans {
    pub config: Arc<SiteConfig>,
}

impl Function for Trans {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let key: String = required(args, "trans", "key")?;
        let lang: String = optional(args, "trans", "lang")?.unwrap_or_else(|| self.config.default_language.clone());
        self.config.translation(&lang, &key).map(|text| Value::String(text.to_string())).ok_or_else(|| {
            format!("trans(): no translation of `{key}` for language `{lang}` or the default language").into()
        })
    }
}

/// `get_page(path)`: a page by its file under `content/` (`about.md`, `about.ar.md`).
pub struct GetPage {
    site: Arc<ResolvedSite>,
    views: Arc<Views>,
    by_file: HashMap<String, usize>,
}

impl GetPage {
    pub fn new(site: Arc<ResolvedSite>, views: Arc<Views>) -> Self {
        let by_file = site.pages.iter().enumerate().map(|(i, p)| (p.placement.relative.clone(), i)).collect();
        Self { site, views, by_file }
    }
}

impl Function for GetPage {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "get_page", "path")?;
        let lang: Option<String> = optional(args, "get_page", "lang")?;
        let path = translated_file(&path, lang.as_deref(), &self.site.config.default_language);
        let index = self.by_file.get(path.as_str()).ok_or_else(|| format!("get_page(): no page at content/{path}"))?;
        Ok(self.views.page_with_neighbours(&self.site.pages[*index], *index))
    }
}

/// `get_section(path, metadata_only?, lang?)`: a section by its `_index.md` file, with its pages
/// unless `metadata_only`.
pub struct GetSection {
    site: Arc<ResolvedSite>,
    views: Arc<Views>,
    by_file: HashMap<String, usize>,
}

impl GetSection {
    pub fn new(site: Arc<ResolvedSite>, views: Arc<Views>) -> Self {
        let by_file = site.sections.iter().enumerate().map(|(i, s)| (s.placement.relative.clone(), i)).collect();
        Self { site, views, by_file }
    }
}

impl Function for GetSection {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "get_section", "path")?;
        let metadata_only: bool = optional(args, "get_section", "metadata_only")?.unwrap_or(false);
        let lang: Option<String> = optional(args, "get_section", "lang")?;
        let path = translated_file(&path, lang.as_deref(), &self.site.config.default_language);
        let index =
            *self.by_file.get(path.as_str()).ok_or_else(|| format!("get_section(): no section at content/{path}"))?;
        Ok(if metadata_only {
            self.views.section(index)
        } else {
            self.views.section_with_pages(&self.site.sections[index], index)
        })
    }
}

/// `about.md` in `ar` is `about.ar.md`; the default language, or none, leaves it as it is.
fn translated_file(path: &str, lang: Option<&str>, default_language: &str) -> String {
    match lang.filter(|l| *l != default_language) {
        Some(lang) => path.strip_suffix(".md").map_or_else(|| path.to_string(), |stem| format!("{stem}.{lang}.md")),
        None => path.to_string(),
    }
}

/// The taxonomy `kind` in `lang` (default: the site's), or an error naming what exists.
fn find_taxonomy<'a>(
    site: &'a ResolvedSite,
    function: &str,
    kind: &str,
    lang: Option<&str>,
) -> TeraResult<&'a Taxonomy> {
    let lang = lang.unwrap_or(&site.config.default_language);
    site.taxonomies.iter().find(|t| t.config.name == kind && t.config.lang == lang).ok_or_else(|| {
        let known: Vec<&str> = site.taxonomies.iter().map(|t| t.config.name.as_str()).collect();
        format!("{function}(): no taxonomy `{kind}` in language `{lang}` (configured: {})", known.join(", ")).into()
    })
}

/// A term of the taxonomy `kind` by its name (compared as slugs, as the term's page is named);
/// `None` for a missing taxonomy or term when the call says `required=false`.
fn find_term<'a>(
    site: &'a ResolvedSite,
    function: &str,
    kind: &str,
    name: &str,
    lang: Option<&str>,
    must_exist: bool,
) -> TeraResult<Option<&'a Term>> {
    let taxonomy = match find_taxonomy(site, function, kind, lang) {
        Ok(taxonomy) => taxonomy,
        Err(_) if !must_exist => return Ok(None),
        Err(error) => return Err(error),
    };
    let slug = crate::slugs::slugify(name, site.config.slugify.taxonomies);
    match taxonomy.terms.iter().find(|t| t.slug == slug) {
        Some(term) => Ok(Some(term)),
        None if !must_exist => Ok(None),
        None => Err(format!("{function}(): no term `{name}` in taxonomy `{kind}`").into()),
    }
}

/// `get_taxonomy_url(kind, name, lang?, required?)`: the permalink of a term's page.
pub struct GetTaxonomyUrl {
    pub site: Arc<ResolvedSite>,
}

impl Function for GetTaxonomyUrl {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let kind: String = required(args, "get_taxonomy_url", "kind")?;
        let name: String = required(args, "get_taxonomy_url", "name")?;
        let lang: Option<String> = optional(args, "get_taxonomy_url", "lang")?;
        let must_exist: bool = optional(args, "get_taxonomy_url", "required")?.unwrap_or(true);
        Ok(find_term(&self.site, "get_taxonomy_url", &kind, &name, lang.as_deref(), must_exist)?
            .map_or(Value::Null, |term| Value::String(term.permalink.clone())))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// `get_taxonomy(kind, lang?, required?)`: the taxonomy with every term and its pages.
pub struct GetTaxonomy {
    pub site: Arc<ResolvedSite>,
    pub views: Arc<Views>,
}

impl Function for GetTaxonomy {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let kind: String = required(args, "get_taxonomy", "kind")?;
        let lang: Option<String> = optional(args, "get_taxonomy", "lang")?;
        let must_exist: bool = optional(args, "get_taxonomy", "required")?.unwrap_or(true);
        match find_taxonomy(&self.site, "get_taxonomy", &kind, lang.as_deref()) {
            Ok(taxonomy) => Ok(self.views.taxonomy(taxonomy)),
            Err(_) if !must_exist => Ok(Value::Null),
            Err(error) => Err(error),
        }
    }
}

/// `get_taxonomy_term(kind, term, lang?, required?)`: one term with its pages.
pub struct GetTaxonomyTerm {
    pub site: Arc<ResolvedSite>,
    pub views: Arc<Views>,
}

impl Function for GetTaxonomyTerm {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let kind: String = required(args, "get_taxonomy_term", "kind")?;
        let name: String = required(args, "get_taxonomy_term", "term")?;
        let lang: Option<String> = optional(args, "get_taxonomy_term", "lang")?;
        let must_exist: bool = optional(args, "get_taxonomy_term", "required")?.unwrap_or(true);
        Ok(find_term(&self.site, "get_taxonomy_term", &kind, &name, lang.as_deref(), must_exist)?
            .map_or(Value::Null, |term| self.views.term(term, true)))
    }
}

/// `get_campaign(slug)`: a campaign from `[[campaigns]]` with its progress at build time.
pub struct GetCampaign {
    pub campaigns: Arc<BTreeMap<String, CampaignView>>,
}

impl Function for GetCampaign {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let slug: String = required(args, "get_campaign", "slug")?;
        let campaign = self
            .campaigns
            .get(&slug)
            .ok_or_else(|| format!("get_campaign(): no campaign `{slug}` in [[campaigns]]"))?;
        to_value(campaign).map_err(Into::into)
    }
}

/// Zola's `num_format(locale?)` filter: an integer with the locale's digit grouping (`12,345`).
pub struct NumFormat;

impl tera::Filter for NumFormat {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> TeraResult<Value> {
        use num_format::{Locale, ToFormattedString};
        let number = value.as_i64().ok_or_else(|| format!("num_format: `{value}` is not an integer"))?;
        let name: String = optional(args, "num_format", "locale")?.unwrap_or_else(|| "en".into());
        let locale = Locale::from_name(&name).map_err(|_| format!("num_format: unknown locale `{name}`"))?;
        Ok(Value::String(number.to_formatted_string(&locale)))
    }
}

/// `digits(system)`: writes the ASCII digits of a text in another numbering system, as a site
/// configures for a language (`arab`: ٠١٢…, `arabext`: ۰۱۲…). Arabic systems also take their
/// own grouping and decimal separators, as browsers' `Intl.NumberFormat` writes them, so the
/// build-time numbers and the script's match. `latn` leaves the text alone.
pub struct Digits;

impl tera::Filter for Digits {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let system: String = required(args, "digits", "system")?;
        let (zero, arabic_separators) = match system.as_str() {
            "latn" => return Ok(Value::String(text)),
            "arab" => ('\u{0660}', true),
            "arabext" => ('\u{06F0}', true),
            "deva" => ('\u{0966}', false),
            "beng" => ('\u{09E6}', false),
            "thai" => ('\u{0E50}', false),
            other => return Err(format!("digits: unknown numbering system `{other}`").into()),
        };
        let converted = text
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(zero as u32 + (c as u32 - '0' as u32)).unwrap_or(c),
                ',' if arabic_separators => '\u{066C}',
                '.' if arabic_separators => '\u{066B}',
                other => other,
            })
            .collect();
        Ok(Value::String(converted))
    }
}
