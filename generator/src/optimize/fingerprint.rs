//! Content-hashed names and the rewriting of references to them.
//!
//! A reference is rewritten only when it resolves to a file of this build, so links to pages,
//! other sites and anything unknown pass through byte for byte. The hash goes into the last
//! segment of the URL as written: an absolute, root-relative or relative URL keeps its form,
//! its percent-encoding, its query and its fragment.

use std::cell::RefCell;
use std::collections::BTreeMap;

use lol_html::html_content::ContentType;
use lol_html::{RewriteStrSettings, element, text};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

use super::css;

/// What a page loads and a new build may change: style sheets, scripts, images, fonts, media.
/// Pages, feeds and data files keep their names; they are what the hashed names are reached from.
const FINGERPRINTED: &[&str] = &[
    "css", "js", "mjs", "png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "woff", "woff2", "ttf", "otf",
    "eot", "mp4", "webm", "mp3", "ogg", "wasm", "pdf",
];

/// Hex digits of the SHA-256 kept in a name: 64 bits, so two versions of a file never collide.
const HASH_LENGTH: usize = 16;

pub fn is_fingerprintable(path: &str) -> bool {
    let name = file_name(path);
    !is_fingerprinted(path)
        && name.rsplit_once('.').is_some_and(|(stem, extension)| !stem.is_empty() && FINGERPRINTED.contains(&extension))
}

/// Whether the name is `stem.<hash>.extension`: such a file never changes, so the cache rules
/// may say `immutable`. Decided by name alone, so `_headers`, the nginx map and a deploy agree.
pub fn is_fingerprinted(path: &str) -> bool {
    let mut parts = file_name(path).rsplitn(3, '.');
    let (_extension, hash, stem) = (parts.next(), parts.next(), parts.next());
    stem.is_some_and(|stem| !stem.is_empty())
        && hash.is_some_and(|hash| {
            hash.len() == HASH_LENGTH && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// The pattern `is_fingerprinted` decides by, for servers that match URLs by regex.
pub const FINGERPRINTED_PATTERN: &str = r"\.[0-9a-f]{16}\.[^./]+$";

pub fn content_hash(bytes: &[u8]) -> String {
    let mut hash = hex::encode(Sha256::digest(bytes));
    hash.truncate(HASH_LENGTH);
    hash
}

/// `css/site.css` → `css/site.<hash>.css`.
pub fn with_hash(path: &str, hash: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
        None => format!("{path}.{hash}"),
    }
}

/// The folder a file's relative references start from: `blog/post/index.html` → `blog/post/`.
pub fn folder_of(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..=slash])
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Rewrites references to hashed files, given the site's base URL and every file's hash.
pub struct References<'a> {
    base_url: &'a str,
    /// The base URL's path, `sub/` for `https://example.com/sub`: root-relative URLs start with it.
    base_path: String,
    hashes: &'a BTreeMap<String, String>,
}

impl<'a> References<'a> {
    pub fn new(base_url: &'a str, hashes: &'a BTreeMap<String, String>) -> Self {
        let base_url = base_url.trim_end_matches('/');
        let after_scheme = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
        let base_path = after_scheme.split_once('/').map(|(_, path)| format!("{path}/")).unwrap_or_default();
        Self { base_url, base_path, hashes }
    }

    /// The reference, pointed at the hashed name, if it names a hashed file of this build.
    pub fn rewrite(&self, reference: &str, from_folder: &str) -> Option<String> {
        if self.hashes.is_empty() {
            return None;
        }
        let (written, suffix) = reference.split_at(reference.find(['?', '#']).unwrap_or(reference.len()));
        let site_path = self.site_path(written, from_folder)?;
        let decoded = percent_decode_str(&site_path).decode_utf8().ok()?;
        let hash = self.hashes.get(decoded.as_ref())?;
        let name_start = written.rfind('/').map_or(0, |slash| slash + 1);
        Some(format!("{}{}{suffix}", &written[..name_start], with_hash(&written[name_start..], hash)))
    }

    /// The output path a URL (without query or fragment) names, if it is inside this site.
    fn site_path(&self, written: &str, from_folder: &str) -> Option<String> {
        if !self.base_url.is_empty()
            && let Some(rest) = written.strip_prefix(self.base_url)
        {
            return rest.strip_prefix('/').map(str::to_owned);
        }
        if written.starts_with("//") || has_scheme(written) {
            return None;
        }
        match written.strip_prefix('/') {
            Some(root_relative) => root_relative.strip_prefix(self.base_path.as_str()).map(str::to_owned),
            None => join(from_folder, written),
        }
    }

    /// `srcset="a.png 1x, b.png 2x"`: each candidate's URL, its descriptor kept.
    fn rewrite_srcset(&self, srcset: &str, from_folder: &str) -> Option<String> {
        let mut changed = false;
        let candidates: Vec<String> = srcset
            .split(',')
            .map(|candidate| {
                let url_start = candidate.len() - candidate.trim_start().len();
                let url_end =
                    candidate[url_start..].find(char::is_whitespace).map_or(candidate.len(), |end| url_start + end);
                match self.rewrite(&candidate[url_start..url_end], from_folder) {
                    Some(url) => {
                        changed = true;
                        format!("{}{url}{}", &candidate[..url_start], &candidate[url_end..])
                    }
                    None => candidate.to_owned(),
                }
            })
            .collect();
        changed.then(|| candidates.join(","))
    }

    /// Every attribute that loads or links a file, inline `style` attributes and `<style>`
    /// elements.
    pub fn html(&self, html: &[u8], from_folder: &str) -> Result<Vec<u8>, String> {
        let html = std::str::from_utf8(html).map_err(|error| error.to_string())?;
        let style = RefCell::new(String::new());
        let rewritten = lol_html::rewrite_str(
            html,
            RewriteStrSettings {
                element_content_handlers: vec![
                    element!(
                        "[src], [href], [poster], [data], [srcset], [imagesrcset], [style], meta[content]",
                        |el| {
                            for name in ["src", "href", "poster", "data"] {
                                if let Some(url) =
                                    el.get_attribute(name).and_then(|url| self.rewrite(&url, from_folder))
                                {
                                    el.set_attribute(name, &url)?;
                                }
                            }
                            for name in ["srcset", "imagesrcset"] {
                                if let Some(set) =
                                    el.get_attribute(name).and_then(|set| self.rewrite_srcset(&set, from_folder))
                                {
                                    el.set_attribute(name, &set)?;
                                }
                            }
                            if let Some(declarations) = el.get_attribute("style").filter(|css| css.contains("url(")) {
                                let rewritten =
                                    css::style_attribute(&declarations, |url| self.rewrite(url, from_folder));
                                if let Ok(rewritten) = rewritten {
                                    el.set_attribute("style", &rewritten)?;
                                }
                            }
                            let names_an_image = ["property", "name"]
                                .into_iter()
                                .filter_map(|name| el.get_attribute(name))
                                .any(|kind| {
                                    matches!(
                                        kind.as_str(),
                                        "og:image" | "og:image:url" | "og:image:secure_url" | "twitter:image"
                                    )
                                });
                            if el.tag_name() == "meta"
                                && names_an_image
                                && let Some(url) =
                                    el.get_attribute("content").and_then(|url| self.rewrite(&url, from_folder))
                            {
                                el.set_attribute("content", &url)?;
                            }
                            Ok(())
                        }
                    ),
                    // A `<style>`'s text arrives in chunks: gathered, then rewritten as one sheet.
                    text!("style", |chunk| {
                        style.borrow_mut().push_str(chunk.as_str());
                        if chunk.last_in_text_node() {
                            let sheet = std::mem::take(&mut *style.borrow_mut());
                            let rewritten = sheet
                                .contains("url(")
                                .then(|| css::style_sheet(&sheet, false, |url| self.rewrite(url, from_folder)).ok())
                                .flatten();
                            chunk.replace(rewritten.as_deref().unwrap_or(&sheet), ContentType::Html);
                        } else {
                            chunk.remove();
                        }
                        Ok(())
                    }),
                ],
                ..RewriteStrSettings::new()
            },
        )
        .map_err(|error| error.to_string())?;
        Ok(rewritten.into_bytes())
    }
}

/// `data:`, `mailto:`, `https:` …: a scheme is letters, digits, `+-.` before the first `:`, and
/// comes before any `/`.
fn has_scheme(url: &str) -> bool {
    url.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// A relative URL joined to a folder of the site; `None` if `..` climbs out of the site.
fn join(folder: &str, relative: &str) -> Option<String> {
    let mut segments: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    let mut parts = relative.split('/').peekable();
    while let Some(part) = parts.next() {
        match part {
            "." => {}
            ".." => {
                segments.pop()?;
            }
            "" if parts.peek().is_some() => {}
            part => segments.push(part),
        }
    }
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes() -> BTreeMap<String, String> {
        [("css/site.css", "0123456789abcdef"), ("blog/post/photo one.jpg", "fedcba9876543210")]
            .into_iter()
            .map(|(path, hash)| (path.to_owned(), hash.to_owned()))
            .collect()
    }

    #[test]
    fn every_form_of_a_reference_keeps_its_form() {
        let hashes = hashes();
        let references = References::new("https://example.com/", &hashes);
        let rewrite = |url: &str, from: &str| references.rewrite(url, from);
        assert_eq!(rewrite("/css/site.css", "").as_deref(), Some("/css/site.0123456789abcdef.css"));
        assert_eq!(
            rewrite("https://example.com/css/site.css?v=2#x", "a/").as_deref(),
            Some("https://example.com/css/site.0123456789abcdef.css?v=2#x")
        );
        assert_eq!(rewrite("../../css/site.css", "blog/post/").as_deref(), Some("../../css/site.0123456789abcdef.css"));
        assert_eq!(rewrite("photo%20one.jpg", "blog/post/").as_deref(), Some("photo%20one.fedcba9876543210.jpg"));
        assert_eq!(rewrite("./photo one.jpg", "blog/post/").as_deref(), Some("./photo one.fedcba9876543210.jpg"));
    }

    #[test]
    fn references_outside_the_build_pass_through() {
        let hashes = hashes();
        let references = References::new("https://example.com", &hashes);
        for url in [
            "https://cdn.example.org/css/site.css",
            "//example.org/css/site.css",
            "data:text/css,a",
            "/css/other.css",
            "../../../css/site.css",
            "#top",
            "",
        ] {
            assert_eq!(references.rewrite(url, "blog/post/"), None, "{url}");
        }
    }

    #[test]
    fn a_base_url_with_a_path_prefixes_root_relative_urls() {
        let hashes = hashes();
        let references = References::new("https://example.com/campaign", &hashes);
        assert_eq!(
            references.rewrite("/campaign/css/site.css", "").as_deref(),
            Some("/campaign/css/site.0123456789abcdef.css")
        );
        assert_eq!(references.rewrite("/css/site.css", ""), None);
    }

    #[test]
    fn pages_have_attributes_srcsets_and_styles_rewritten() {
        let hashes = hashes();
        let references = References::new("https://example.com", &hashes);
        let page = r#"<link rel="stylesheet" href="/css/site.css?a=1&amp;b=2"><a href="/about/">About</a>
<img src="photo%20one.jpg" srcset="photo%20one.jpg 1x, /elsewhere.png 2x" style="background: url('/css/site.css')">
<meta property="og:image" content="https://example.com/css/site.css"><style>.a { background: url(../../css/site.css) }</style>"#;
        let rewritten = String::from_utf8(references.html(page.as_bytes(), "blog/post/").unwrap()).unwrap();
        assert!(rewritten.contains(r#"href="/css/site.0123456789abcdef.css?a=1&amp;b=2""#), "{rewritten}");
        assert!(rewritten.contains(r#"<a href="/about/">"#), "{rewritten}");
        assert!(rewritten.contains(r#"src="photo%20one.fedcba9876543210.jpg""#), "{rewritten}");
        assert!(
            rewritten.contains(r#"srcset="photo%20one.fedcba9876543210.jpg 1x, /elsewhere.png 2x""#),
            "{rewritten}"
        );
        // The attribute's quotes are escaped, as HTML reads them.
        assert!(
            rewritten.contains(r#"style="background: url(&quot;/css/site.0123456789abcdef.css&quot;)""#),
            "{rewritten}"
        );
        assert!(rewritten.contains(r#"content="https://example.com/css/site.0123456789abcdef.css""#), "{rewritten}");
        assert!(rewritten.contains("../../css/site.0123456789abcdef.css"), "{rewritten}");
    }

    #[test]
    fn hashed_names_are_recognised_and_never_hashed_again() {
        assert!(is_fingerprintable("css/site.css"));
        assert!(!is_fingerprintable("index.html"));
        assert!(!is_fingerprintable(".css"));
        let hashed = with_hash("css/site.css", &content_hash(b"body{}"));
        assert!(is_fingerprinted(&hashed), "{hashed}");
        assert!(!is_fingerprintable(&hashed));
        assert!(!is_fingerprinted("css/site.css"));
        assert!(!is_fingerprinted("app.min.js"));
    }
}
