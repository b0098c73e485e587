//! What templates see: serializable views of pages, sections and campaigns, named as Zola names them.

use campaigns::Campaign;
use num_format::{Locale, ToFormattedString};
use serde::Serialize;

use crate::CampaignProgress;

#[derive(Debug, Clone, Serialize)]
pub struct TranslationView {
    pub lang: String,
    pub permalink: String,
    pub path: String,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageView {
    pub relative_path: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub date: Option<String>,
    pub updated: Option<String>,
    pub slug: String,
    pub path: String,
    pub permalink: String,
    pub lang: String,
    pub weight: Option<i64>,
    pub content: String,
    pub extra: serde_json::Value,
    pub translations: Vec<TranslationView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub relative_path: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub path: String,
    pub permalink: String,
    pub lang: String,
    pub content: String,
    pub extra: serde_json::Value,
    pub pages: Vec<PageView>,
    /// Relative paths of subsections, as Zola gives them (fetch one with `get_section`).
    pub subsections: Vec<String>,
    pub translations: Vec<TranslationView>,
}

/// A campaign with its progress as of the build, for the progress bar and the donate form.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    pub slug: String,
    pub currency: &'static str,
    pub currency_symbol: String,
    pub exponent: u8,
    pub goal_minor: i64,
    pub raised_minor: i64,
    pub donors: i64,
    /// Whole major units with digit grouping: `12,345`.
    pub goal: String,
    pub raised: String,
    pub percent: u8,
    pub suggested: Vec<AmountView>,
    /// In major units as a form field takes them (`1`, `10000`).
    pub min_amount: String,
    pub max_amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AmountView {
    pub minor: i64,
    /// What a person would type: `25`, `25.50`.
    pub amount: String,
}

impl CampaignView {
    pub fn new(campaign: &Campaign, progress: CampaignProgress) -> Self {
        let currency = campaign.currency;
        let whole = |minor: i64| (minor / 10_i64.pow(u32::from(currency.exponent()))).to_formatted_string(&Locale::en);
        let percent = if campaign.goal_minor > 0 {
            (progress.raised_minor.max(0).saturating_mul(100) / campaign.goal_minor).min(100) as u8
        } else {
            0
        };
        Self {
            slug: campaign.slug.clone(),
            currency: currency.code(),
            currency_symbol: currency.symbol(),
            exponent: currency.exponent(),
            goal_minor: campaign.goal_minor,
            raised_minor: progress.raised_minor,
            donors: progress.donors,
            goal: whole(campaign.goal_minor),
            raised: whole(progress.raised_minor),
            percent,
            suggested: campaign
                .suggested_minor
                .iter()
                .map(|&minor| AmountView { minor, amount: currency.format_major(minor) })
                .collect(),
            min_amount: currency.format_major(campaign.min_minor),
            max_amount: currency.format_major(campaign.max_minor),
        }
    }
}

/// TOML from front matter or config as the JSON value Tera works with.
pub fn json(table: &toml::Table) -> serde_json::Value {
    serde_json::to_value(table).unwrap_or_default()
}
