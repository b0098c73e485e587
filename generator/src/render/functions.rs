//! The Tera functions templates call: Zola's `get_url`, `trans`, `get_page`, `get_section`, and
//! Pledge's `get_campaign`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tera::{Function, Result as TeraResult, Value, from_value, to_value};

use super::views::{CampaignView, PageView, SectionView};
use crate::config::SiteConfig;

fn required<T: serde::de::DeserializeOwned>(
    args: &HashMap<String, Value>,
    function: &str,
    name: &str,
) -> TeraResult<T> {
    let value = args.get(name).ok_or_else(|| format!("{function}() needs the argument `{name}`"))?;
    from_value(value.clone()).map_err(|e| format!("{function}(): `{name}` {e}").into())
}

fn optional<T: serde::de::DeserializeOwned>(
    args: &HashMap<String, Value>,
    function: &str,
    name: &str,
) -> TeraResult<Option<T>> {
    args.get(name).map(|_| required(args, function, name)).transpose()
}

/// `get_url(path, lang?, trailing_slash?)`: `@/file.md` resolves to that content's permalink;
/// any other path is joined to `base_url` (after the language prefix, if `lang` is given).
pub struct GetUrl {
    pub config: Arc<SiteConfig>,
    pub internal_links: Arc<HashMap<String, String>>,
}

impl Function for GetUrl {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "get_url", "path")?;
        let lang: Option<String> = optional(args, "get_url", "lang")?;
        let trailing_slash: bool = optional(args, "get_url", "trailing_slash")?.unwrap_or(false);
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
        Ok(Value::String(url))
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
    pub pages: Arc<BTreeMap<String, PageView>>,
}

impl Function for GetPage {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "get_page", "path")?;
        let page = self.pages.get(&path).ok_or_else(|| format!("get_page(): no page at content/{path}"))?;
        to_value(page).map_err(Into::into)
    }
}

/// `get_section(path)`: a section by its `_index.md` file.
pub struct GetSection {
    pub sections: Arc<BTreeMap<String, SectionView>>,
}

impl Function for GetSection {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "get_section", "path")?;
        let section = self.sections.get(&path).ok_or_else(|| format!("get_section(): no section at content/{path}"))?;
        to_value(section).map_err(Into::into)
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
