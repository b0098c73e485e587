//! The site's `config.toml`: Zola's keys plus Pledge's `[[campaigns]]`, with unknown keys refused.

use std::collections::BTreeMap;
use std::path::Path;

use campaigns::{CampaignDefinition, Campaigns};
use serde::{Deserialize, Serialize};

use crate::BuildError;

#[derive(Debug, Clone, Deserialize)]
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
    #[serde(default = "yes")]
    pub generate_sitemap: bool,
    #[serde(default = "yes")]
    pub generate_robots_txt: bool,
    /// UI strings of the default language, for `trans()`.
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
    #[serde(default)]
    pub languages: BTreeMap<String, LanguageConfig>,
    #[serde(default)]
    pub extra: toml::Table,
    #[serde(default)]
    pub campaigns: Vec<CampaignDefinition>,
}

/// A `[languages.xx]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
}

fn default_language() -> String {
    "en".into()
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

    /// What templates see as `config`, with the language's own title and description.
    pub fn template_view(&self, lang: &str) -> ConfigView {
        let language = self.languages.get(lang);
        ConfigView {
            base_url: self.base_url.clone(),
            title: language.and_then(|l| l.title.clone()).or_else(|| self.title.clone()),
            description: language.and_then(|l| l.description.clone()).or_else(|| self.description.clone()),
            default_language: self.default_language.clone(),
            languages: self.all_languages().into_iter().map(String::from).collect(),
            extra: serde_json::to_value(&self.extra).unwrap_or_default(),
        }
    }
}

/// The `config` variable of templates.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    pub base_url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub default_language: String,
    pub languages: Vec<String>,
    pub extra: serde_json::Value,
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
}
