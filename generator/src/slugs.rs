//! Names to URL segments, by the `[slugify]` strategy of their kind (paths, taxonomies;
//! anchors are the Markdown stage's).

use crate::config::SlugStrategy;

/// Characters no file name may hold on Windows or Unix, removed by the `safe` strategy.
const UNSAFE_IN_FILE_NAMES: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*', '#'];

/// A path segment or taxonomy term slug.
pub fn slugify(text: &str, strategy: SlugStrategy) -> String {
    match strategy {
        SlugStrategy::On => slug::slugify(text),
        SlugStrategy::Safe => text.trim().chars().filter(|c| !UNSAFE_IN_FILE_NAMES.contains(c)).collect(),
        SlugStrategy::Off => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_strategy_keeps_what_it_promises() {
        assert_eq!(slugify("Héllo, World: 2!", SlugStrategy::On), "hello-world-2");
        assert_eq!(slugify("日本 <語>?", SlugStrategy::Safe), "日本 語");
        assert_eq!(slugify("As Is?", SlugStrategy::Off), "As Is?");
    }
}
