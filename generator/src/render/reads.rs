//! Which pages and sections went into each rendered file, so that after an edit the dev server
//! re-renders only the files that showed what changed.
//!
//! Every template value of a page or section is handed out by [`super::views::Views`], whether
//! the renderer puts it into a context or a template fetches it with `get_page`, `get_section`
//! or `get_taxonomy`; each hand-out is noted here, for the render running on this thread. A
//! template renders on one thread from start to end, so a thread-local list sees exactly its
//! own reads.

use std::cell::RefCell;

/// A page or a section, by its index in the resolved site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Content {
    Page(usize),
    Section(usize),
}

thread_local! {
    static READS: RefCell<Option<Vec<Content>>> = const { RefCell::new(None) };
}

/// Notes that the render on this thread, if one is being watched, showed `content`.
pub fn note(content: Content) {
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut() {
            reads.push(content);
        }
    });
}

/// Runs `render` and returns, with its result, what it read, sorted and without repeats.
/// Watches nest: an inner watch (rayon may start another render on this thread while this one
/// waits) keeps its reads to itself.
pub fn watch<T>(render: impl FnOnce() -> T) -> (T, Vec<Content>) {
    let outer = READS.with(|reads| reads.replace(Some(Vec::new())));
    let result = render();
    let mut read = READS.with(|reads| reads.replace(outer)).unwrap_or_default();
    read.sort_unstable();
    read.dedup();
    read.shrink_to_fit();
    (result, read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_sees_its_own_reads_once_each_and_nothing_outside_it() {
        note(Content::Page(9));
        let ((), read) = watch(|| {
            note(Content::Page(2));
            let ((), inner) = watch(|| note(Content::Section(1)));
            assert_eq!(inner, vec![Content::Section(1)]);
            note(Content::Page(2));
            note(Content::Page(0));
        });
        assert_eq!(read, vec![Content::Page(0), Content::Page(2)]);
    }
}
