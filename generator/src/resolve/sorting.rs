//! The orders a section may put its pages in (`sort_by`), as Zola defines them.

use std::cmp::Ordering;

use crate::resolve::ResolvedPage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Newest first; pages without a date are left out of the list.
    Date,
    /// Most recently updated (or, without `updated`, dated) first.
    UpdateDate,
    /// Titles in natural, case-insensitive order (`Page 2` before `Page 10`).
    Title,
    /// Titles by their bytes.
    TitleBytes,
    /// Lightest first; pages without a weight are left out.
    Weight,
    Slug,
    /// By file path, so the order is at least stable.
    None,
}

impl SortBy {
    pub fn parse(text: Option<&str>) -> Result<Self, String> {
        Ok(match text.unwrap_or("none") {
            "date" => Self::Date,
            "update_date" => Self::UpdateDate,
            "title" => Self::Title,
            "title_bytes" => Self::TitleBytes,
            "weight" => Self::Weight,
            "slug" => Self::Slug,
            "none" => Self::None,
            other => {
                return Err(format!(
                    "sort_by = \"{other}\" is not one of date, update_date, title, title_bytes, weight, slug, none"
                ));
            }
        })
    }

    /// Whether a page has what this order sorts by.
    fn can_sort(self, page: &ResolvedPage) -> bool {
        match self {
            Self::Date => page.date.is_some(),
            Self::UpdateDate => page.date.is_some() || page.updated.is_some(),
            Self::Title | Self::TitleBytes => page.front_matter.title.is_some(),
            Self::Weight => page.front_matter.weight.is_some(),
            Self::Slug | Self::None => true,
        }
    }

    fn compare(self, a: &ResolvedPage, b: &ResolvedPage) -> Ordering {
        let by_path = || a.placement.relative.cmp(&b.placement.relative);
        let ordering = match self {
            Self::Date => b.date.as_ref().map(|d| d.at).cmp(&a.date.as_ref().map(|d| d.at)),
            Self::UpdateDate => b.last_change().cmp(&a.last_change()),
            Self::Title => lexical_sort::natural_lexical_cmp(title(a), title(b)),
            Self::TitleBytes => title(a).cmp(title(b)),
            Self::Weight => a.front_matter.weight.cmp(&b.front_matter.weight),
            Self::Slug => lexical_sort::natural_lexical_cmp(&a.slug, &b.slug),
            Self::None => Ordering::Equal,
        };
        ordering.then_with(by_path)
    }
}

fn title(page: &ResolvedPage) -> &str {
    page.front_matter.title.as_deref().unwrap_or("")
}

/// Sorts `members` (indices into `pages`) and returns the ones this order cannot place, which
/// Zola leaves out of the section's list.
pub fn sort(members: &mut Vec<usize>, pages: &[ResolvedPage], by: SortBy) -> Vec<usize> {
    let (mut sortable, unsortable): (Vec<usize>, Vec<usize>) = members.iter().partition(|&&i| by.can_sort(&pages[i]));
    sortable.sort_by(|&a, &b| by.compare(&pages[a], &pages[b]));
    *members = sortable;
    unsortable
}
