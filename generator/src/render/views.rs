//! What templates see: serializable views of pages, sections and campaigns, named as Zola names them.

use campaigns::Campaign;
use num_format::{Locale, ToFormattedString};
use serde::Serialize;

use crate::CampaignProgress;
use crate::resolve::{Placement, ResolvedPage, ResolvedSection};

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

impl PageView {
    pub fn new(page: &ResolvedPage, pages: &[ResolvedPage], content: String) -> Self {
        let fm = &page.front_matter;
        let others =
            page.placement.translations.iter().map(|&i| (&pages[i].placement, pages[i].front_matter.title.clone()));
        Self {
            relative_path: page.placement.relative.clone(),
            title: fm.title.clone(),
            description: fm.description.clone(),
            date: fm.date.as_ref().map(value_text),
            updated: fm.updated.as_ref().map(value_text),
            slug: page.slug.clone(),
            path: page.placement.path.clone(),
            permalink: page.placement.permalink.clone(),
            lang: page.placement.lang.clone(),
            weight: fm.weight,
            content,
            extra: json(&fm.extra),
            translations: translation_views((&page.placement, fm.title.clone()), others),
        }
    }
}

impl SectionView {
    pub fn new(
        section: &ResolvedSection,
        sections: &[ResolvedSection],
        page_views: &[PageView],
        content: String,
    ) -> Self {
        let fm = &section.front_matter;
        let others = section
            .placement
            .translations
            .iter()
            .map(|&i| (&sections[i].placement, sections[i].front_matter.title.clone()));
        Self {
            relative_path: section.placement.relative.clone(),
            title: fm.title.clone(),
            description: fm.description.clone(),
            path: section.placement.path.clone(),
            permalink: section.placement.permalink.clone(),
            lang: section.placement.lang.clone(),
            content,
            extra: json(&fm.extra),
            pages: section.pages.iter().map(|&i| page_views[i].clone()).collect(),
            subsections: section.subsections.iter().map(|&i| sections[i].placement.relative.clone()).collect(),
            translations: translation_views((&section.placement, fm.title.clone()), others),
        }
    }
}

/// The content itself and its translations, sorted by language, as Zola lists them.
fn translation_views<'a>(
    itself: (&'a Placement, Option<String>),
    others: impl Iterator<Item = (&'a Placement, Option<String>)>,
) -> Vec<TranslationView> {
    let mut list: Vec<TranslationView> = std::iter::once(itself)
        .chain(others)
        .map(|(p, title)| TranslationView {
            lang: p.lang.clone(),
            permalink: p.permalink.clone(),
            path: p.path.clone(),
            title,
        })
        .collect();
    list.sort_by(|a, b| a.lang.cmp(&b.lang));
    list
}

fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
fn json(table: &toml::Table) -> serde_json::Value {
    serde_json::to_value(table).unwrap_or_default()
}
