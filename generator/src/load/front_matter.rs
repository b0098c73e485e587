//! Splitting a content file into `+++` TOML front matter and Markdown body, and the front-matter
//! fields Zola defines for pages and sections.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Front matter of a page (`foo.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageFrontMatter {
    pub title: Option<String>,
    pub description: Option<String>,
    pub date: Option<toml::Value>,
    pub updated: Option<toml::Value>,
    #[serde(default)]
    pub draft: bool,
    pub slug: Option<String>,
    pub path: Option<String>,
    pub template: Option<String>,
    pub weight: Option<i64>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub taxonomies: BTreeMap<String, Vec<String>>,
    pub in_search_index: Option<bool>,
    pub render: Option<bool>,
    #[serde(default)]
    pub extra: toml::Table,
}

/// Front matter of a section (`_index.md`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionFrontMatter {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub draft: bool,
    pub template: Option<String>,
    pub page_template: Option<String>,
    pub sort_by: Option<String>,
    pub weight: Option<i64>,
    pub paginate_by: Option<usize>,
    pub paginate_path: Option<String>,
    pub paginate_reversed: Option<bool>,
    pub insert_anchor_links: Option<String>,
    pub in_search_index: Option<bool>,
    pub render: Option<bool>,
    pub redirect_to: Option<String>,
    pub transparent: Option<bool>,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub generate_feeds: Option<bool>,
    #[serde(default)]
    pub extra: toml::Table,
}

/// A front-matter problem at a 1-based line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatterError {
    pub line: usize,
    pub message: String,
}

/// The raw front matter, the body, and the 1-based line on which the body starts.
pub struct Split<'a> {
    pub front_matter: &'a str,
    pub body: &'a str,
    pub body_line: usize,
}

/// Splits `+++\n<toml>\n+++\n<body>`. A file without front matter is refused, as Zola does.
pub fn split(text: &str) -> Result<Split<'_>, FrontMatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("+++").and_then(|r| r.strip_prefix('\n').or_else(|| r.strip_prefix("\r\n")))
    else {
        return Err(FrontMatterError {
            line: 1,
            message: "expected front matter opening with +++ on the first line".into(),
        });
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            let front_matter = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let body_line = 2 + front_matter.matches('\n').count() + 1;
            return Ok(Split { front_matter, body, body_line });
        }
        offset += line.len();
    }
    Err(FrontMatterError { line: 1, message: "front matter opened with +++ is never closed".into() })
}

/// Parses TOML front matter; an error's line counts from the top of the file (the `+++` is line 1).
pub fn parse<T: for<'de> Deserialize<'de>>(front_matter: &str) -> Result<T, FrontMatterError> {
    toml::from_str(front_matter).map_err(|error| {
        let line = error.span().map_or(1, |span| crate::problem::line_of(front_matter, span.start) + 1);
        FrontMatterError { line, message: error.message().trim().to_string() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_starts_after_the_closing_marker() {
        let split = split("+++\ntitle = \"A\"\n+++\nHello\n").unwrap();
        assert_eq!(split.front_matter, "title = \"A\"\n");
        assert_eq!(split.body, "Hello\n");
        assert_eq!(split.body_line, 4);
    }

    #[test]
    fn errors_carry_the_line_in_the_file() {
        let error = parse::<PageFrontMatter>("title = \"A\"\ntitel = \"B\"\n").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message.contains("titel"), "{}", error.message);
        assert!(split("no front matter").is_err());
        assert!(split("+++\ntitle = 1\n").is_err());
    }
}
