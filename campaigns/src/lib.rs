//! The campaigns of a site, defined once in `site/config.toml` and read by both the generator
//! (which renders the progress bar and the donate form) and the API (which enforces the rules),
//! so the form and the rules cannot drift.

mod money;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use money::{AmountError, Currency, CurrencyError};

/// One `[[campaigns]]` table as an editor writes it. Amounts are in major units, as integers or
/// decimal strings (`25` or `"25.50"`), never TOML floats.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CampaignDefinition {
    pub slug: String,
    pub currency: String,
    pub goal: MajorAmount,
    #[serde(default)]
    pub suggested_amounts: Vec<MajorAmount>,
    #[serde(default = "default_min_amount")]
    pub min_amount: MajorAmount,
    pub max_amount: MajorAmount,
    #[serde(default = "default_thank_you_path")]
    pub thank_you_path: String,
    #[serde(default = "default_failed_path")]
    pub failed_path: String,
}

/// An amount in major units as written in TOML.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum MajorAmount {
    Whole(u64),
    Text(String),
}

fn default_min_amount() -> MajorAmount {
    MajorAmount::Whole(1)
}
fn default_thank_you_path() -> String {
    "/thank-you/".into()
}
fn default_failed_path() -> String {
    "/failed/".into()
}

/// A validated campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub slug: String,
    pub currency: Currency,
    pub goal_minor: i64,
    pub suggested_minor: Vec<i64>,
    pub min_minor: i64,
    pub max_minor: i64,
    pub thank_you_path: String,
    pub failed_path: String,
}

/// How a payment ended, as far as the visitor's next page is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultPage {
    ThankYou,
    Failed,
}

/// Every campaign of a site plus the languages its pages exist in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaigns {
    default_language: String,
    languages: Vec<String>,
    campaigns: Vec<Campaign>,
}

impl Campaigns {
    /// Validates definitions; `languages` are the site's extra language codes (not the default).
    pub fn new(
        definitions: &[CampaignDefinition],
        default_language: &str,
        languages: impl IntoIterator<Item = String>,
    ) -> Result<Self, CampaignError> {
        let mut campaigns: Vec<Campaign> = Vec::with_capacity(definitions.len());
        for definition in definitions {
            let campaign = validate(definition)?;
            if campaigns.iter().any(|c| c.slug == campaign.slug) {
                return Err(CampaignError::new(&campaign.slug, "is defined twice"));
            }
            campaigns.push(campaign);
        }
        let mut languages: Vec<String> = languages.into_iter().collect();
        languages.retain(|l| l != default_language);
        Ok(Self { default_language: default_language.to_string(), languages, campaigns })
    }

    /// Reads only the keys this type needs from a site config file; the generator checks the rest.
    pub fn load(config_path: &Path) -> Result<Self, CampaignError> {
        let text = std::fs::read_to_string(config_path).map_err(|e| CampaignError {
            campaign: String::new(),
            message: format!("cannot read {}: {e}", config_path.display()),
        })?;
        Self::from_config_toml(&text).map_err(|mut e| {
            e.message = format!("{}: {}", config_path.display(), e.message);
            e
        })
    }

    pub fn from_config_toml(text: &str) -> Result<Self, CampaignError> {
        #[derive(Deserialize)]
        struct ConfigView {
            #[serde(default = "english")]
            default_language: String,
            #[serde(default)]
            languages: BTreeMap<String, toml::Table>,
            #[serde(default)]
            campaigns: Vec<CampaignDefinition>,
        }
        fn english() -> String {
            "en".into()
        }
        let view: ConfigView =
            toml::from_str(text).map_err(|e| CampaignError { campaign: String::new(), message: e.to_string() })?;
        Self::new(&view.campaigns, &view.default_language, view.languages.into_keys())
    }

    pub fn get(&self, slug: &str) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.slug == slug)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Campaign> {
        self.campaigns.iter()
    }

    pub fn default_language(&self) -> &str {
        &self.default_language
    }

    /// True for the default language and every configured translation.
    pub fn has_language(&self, lang: &str) -> bool {
        lang == self.default_language || self.languages.iter().any(|l| l == lang)
    }

    /// The site path of a campaign's result page in a language: `/thank-you/`, `/ar/thank-you/`.
    /// An unknown language falls back to the default one, and a campaign no longer configured
    /// (a donor returning after it was removed) to the default paths, never to an error.
    pub fn result_path(&self, campaign: &str, lang: &str, page: ResultPage) -> String {
        let campaign = self.get(campaign);
        let path = match (page, campaign) {
            (ResultPage::ThankYou, Some(c)) => c.thank_you_path.clone(),
            (ResultPage::Failed, Some(c)) => c.failed_path.clone(),
            (ResultPage::ThankYou, None) => default_thank_you_path(),
            (ResultPage::Failed, None) => default_failed_path(),
        };
        if lang == self.default_language || !self.has_language(lang) { path } else { format!("/{lang}{path}") }
    }
}

fn validate(definition: &CampaignDefinition) -> Result<Campaign, CampaignError> {
    let slug = definition.slug.as_str();
    let fail = |message: String| CampaignError::new(slug, &message);
    let slug_ok = !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !slug_ok {
        return Err(fail("slug must be 1 to 64 characters of a-z, 0-9 and -".into()));
    }
    let currency = Currency::parse(&definition.currency).map_err(|e| fail(e.to_string()))?;
    let amount = |field: &str, value: &MajorAmount| -> Result<i64, CampaignError> {
        let text = match value {
            MajorAmount::Whole(n) => n.to_string(),
            MajorAmount::Text(s) => s.clone(),
        };
        currency.parse_major(&text).map_err(|e| fail(format!("{field}: {e}")))
    };
    let goal_minor = amount("goal", &definition.goal)?;
    let min_minor = amount("min_amount", &definition.min_amount)?;
    let max_minor = amount("max_amount", &definition.max_amount)?;
    if min_minor > max_minor {
        return Err(fail("min_amount is larger than max_amount".into()));
    }
    let mut suggested_minor = Vec::with_capacity(definition.suggested_amounts.len());
    for value in &definition.suggested_amounts {
        let minor = amount("suggested_amounts", value)?;
        if !(min_minor..=max_minor).contains(&minor) {
            return Err(fail(format!(
                "suggested amount {} is outside min_amount..max_amount",
                currency.format_major(minor)
            )));
        }
        suggested_minor.push(minor);
    }
    for (field, path) in [("thank_you_path", &definition.thank_you_path), ("failed_path", &definition.failed_path)] {
        let unsafe_text = path.contains("..") || path.contains('\\') || path.chars().any(char::is_control);
        if !path.starts_with('/') || path.starts_with("//") || unsafe_text {
            return Err(fail(format!("{field} must be a path on the site starting with a single /")));
        }
    }
    Ok(Campaign {
        slug: slug.to_string(),
        currency,
        goal_minor,
        suggested_minor,
        min_minor,
        max_minor,
        thank_you_path: definition.thank_you_path.clone(),
        failed_path: definition.failed_path.clone(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("campaign `{campaign}`: {message}")]
pub struct CampaignError {
    pub campaign: String,
    pub message: String,
}

impl CampaignError {
    fn new(campaign: &str, message: &str) -> Self {
        Self { campaign: campaign.to_string(), message: message.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
        base_url = "https://example.org"
        default_language = "en"
        [languages.ar]
        title = "حملة"
        [[campaigns]]
        slug = "water"
        currency = "usd"
        goal = 250000
        suggested_amounts = [25, "50.50"]
        max_amount = 10000
    "#;

    #[test]
    fn a_config_file_yields_validated_campaigns() {
        let campaigns = Campaigns::from_config_toml(CONFIG).unwrap();
        let water = campaigns.get("water").unwrap();
        assert_eq!(water.currency.code(), "USD");
        assert_eq!(water.goal_minor, 25_000_000);
        assert_eq!(water.suggested_minor, vec![2500, 5050]);
        assert_eq!(water.min_minor, 100);
        assert!(campaigns.has_language("ar"));
        assert_eq!(campaigns.result_path("water", "ar", ResultPage::ThankYou), "/ar/thank-you/");
        assert_eq!(campaigns.result_path("water", "en", ResultPage::Failed), "/failed/");
        assert_eq!(campaigns.result_path("water", "xx", ResultPage::Failed), "/failed/");
        assert_eq!(campaigns.result_path("removed", "ar", ResultPage::ThankYou), "/ar/thank-you/");
    }

    #[test]
    fn bad_definitions_name_the_campaign_and_the_problem() {
        let bad = [
            ("slug = \"Bad Slug\"", "slug must be"),
            ("currency = \"XYZ\"", "not an ISO 4217"),
            ("suggested_amounts = [20000]", "outside min_amount"),
            ("thank_you_path = \"//evil.example\"", "single /"),
            ("failed_path = \"/\\\\evil.example\"", "single /"),
        ];
        for (line, expected) in bad {
            let mut table: toml::Table =
                toml::from_str("slug = \"water\"\ncurrency = \"USD\"\ngoal = 100\nmax_amount = 1000").unwrap();
            let change: toml::Table = toml::from_str(line).unwrap();
            table.extend(change);
            let definition: CampaignDefinition = table.try_into().unwrap();
            let error = Campaigns::new(&[definition], "en", []).unwrap_err();
            assert!(error.to_string().contains(expected), "{line}: {error}");
        }
    }
}
