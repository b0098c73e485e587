//! Which front-matter changes only change what a page or section shows, so that the dev server
//! can render again what shows it without resolving the site again. Anything else (a date, a
//! weight, a slug, taxonomies, aliases, drafts…) may move pages between pagers, terms and
//! feeds, or reorder them, and needs a full build.

use crate::load::{PageFrontMatter, SectionFrontMatter};

/// The fields of the page's template value that the change touches, or `None`. A title is
/// only shown unless some section sorts its pages by title.
pub fn page(old: &PageFrontMatter, new: &PageFrontMatter, sorted_by_title: bool) -> Option<Vec<&'static str>> {
    let mut rest = new.clone();
    let mut fields = Vec::new();
    if !sorted_by_title {
        shown(&old.title, &mut rest.title, "title", &mut fields);
    }
    shown(&old.description, &mut rest.description, "description", &mut fields);
    shown(&old.extra, &mut rest.extra, "extra", &mut fields);
    shown(&old.authors, &mut rest.authors, "authors", &mut fields);
    // Only the page's own file uses its template, and it always renders again; the search
    // index is always made again.
    rest.template.clone_from(&old.template);
    rest.in_search_index = old.in_search_index;
    (rest == *old).then_some(fields)
}

/// The fields of the section's template value that the change touches, or `None`.
pub fn section(old: &SectionFrontMatter, new: &SectionFrontMatter) -> Option<Vec<&'static str>> {
    let mut rest = new.clone();
    let mut fields = Vec::new();
    shown(&old.title, &mut rest.title, "title", &mut fields);
    shown(&old.description, &mut rest.description, "description", &mut fields);
    shown(&old.extra, &mut rest.extra, "extra", &mut fields);
    rest.template.clone_from(&old.template);
    rest.in_search_index = old.in_search_index;
    (rest == *old).then_some(fields)
}

/// Notes `name` if the field changed, and puts the old value back so what is left compares
/// equal only if nothing else changed.
fn shown<T: PartialEq + Clone>(old: &T, new: &mut T, name: &'static str, fields: &mut Vec<&'static str>) {
    if old != new {
        fields.push(name);
        new.clone_from(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(edit: impl FnOnce(&mut PageFrontMatter)) -> PageFrontMatter {
        let mut page = PageFrontMatter { title: Some("A".into()), weight: Some(1), ..PageFrontMatter::default() };
        edit(&mut page);
        page
    }

    #[test]
    fn shown_fields_are_named_and_the_rest_needs_a_full_build() {
        let old = page_with(|_| {});
        assert_eq!(page(&old, &old, false), Some(vec![]));
        let retitled = page_with(|p| {
            p.title = Some("B".into());
            p.description = Some("new".into());
            p.template = Some("other.html".into());
        });
        assert_eq!(page(&old, &retitled, false), Some(vec!["title", "description"]));
        assert_eq!(page(&old, &retitled, true), None, "a title orders pages somewhere");
        assert_eq!(page(&old, &page_with(|p| p.weight = Some(2)), false), None);
        assert_eq!(page(&old, &page_with(|p| p.aliases = vec!["old/".into()]), false), None);
        let old_section = SectionFrontMatter::default();
        let paginated = SectionFrontMatter { paginate_by: Some(5), ..SectionFrontMatter::default() };
        assert_eq!(section(&old_section, &paginated), None);
    }
}
