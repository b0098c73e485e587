//! Taxonomies: the terms pages list in their `[taxonomies]` front matter, gathered per
//! language, each with its pages newest first.

use std::collections::BTreeMap;

use crate::config::{SiteConfig, TaxonomyConfig};
use crate::problem::Problem;
use crate::resolve::ResolvedPage;
use crate::resolve::sorting::{SortBy, sort};
use crate::slugs::slugify;

#[derive(Debug, Clone)]
pub struct Taxonomy {
    /// As configured, with `lang` and `slug` filled in.
    pub config: TaxonomyConfig,
    /// The list page: `/tags/`, `/fr/auteurs/`.
    pub path: String,
    pub permalink: String,
    /// In slug order.
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone)]
pub struct Term {
    pub name: String,
    pub slug: String,
    pub path: String,
    pub permalink: String,
    /// Indices into the site's pages: dated pages newest first, then the undated by path.
    pub pages: Vec<usize>,
}

/// Every configured taxonomy of every language, with its terms; a page naming a taxonomy its
/// language does not configure is a problem.
pub fn collect(config: &SiteConfig, pages: &[ResolvedPage], problems: &mut Vec<Problem>) -> Vec<Taxonomy> {
    let mut taxonomies: Vec<Taxonomy> = config
        .all_languages()
        .into_iter()
        .flat_map(|lang| config.taxonomies_of(lang).iter().cloned())
        .map(|taxonomy| {
            let mut path = config.language_prefix(&taxonomy.lang);
            if let Some(root) = config.taxonomy_root.as_deref().map(|r| r.trim_matches('/')).filter(|r| !r.is_empty()) {
                path.push('/');
                path.push_str(root);
            }
            let path = format!("{path}/{}/", taxonomy.slug);
            Taxonomy { permalink: config.permalink(&path), path, config: taxonomy, terms: Vec::new() }
        })
        .collect();

    // (taxonomy, term slug) → (first spelling seen, pages)
    let mut found: BTreeMap<(usize, String), (String, Vec<usize>)> = BTreeMap::new();
    for (index, page) in pages.iter().enumerate() {
        for (name, terms) in &page.front_matter.taxonomies {
            let Some(taxonomy) =
                taxonomies.iter().position(|t| t.config.name == *name && t.config.lang == page.placement.lang)
            else {
                problems.push(Problem::in_file(
                    &page.placement.file,
                    format!(
                        "taxonomy `{name}` is not configured for language `{}` (add it to `taxonomies` in the config)",
                        page.placement.lang
                    ),
                ));
                continue;
            };
            for term in terms {
                let slug = slugify(term, config.slugify.taxonomies);
                let entry = found.entry((taxonomy, slug)).or_insert_with(|| (term.clone(), Vec::new()));
                if entry.1.last() != Some(&index) {
                    entry.1.push(index);
                }
            }
        }
    }
    for ((taxonomy_index, slug), (name, mut members)) in found {
        let taxonomy = &mut taxonomies[taxonomy_index];
        let undated = sort(&mut members, pages, SortBy::Date);
        members.extend(undated);
        let path = format!("{}{slug}/", taxonomy.path);
        taxonomy.terms.push(Term { name, permalink: config.permalink(&path), path, slug, pages: members });
    }
    taxonomies
}
