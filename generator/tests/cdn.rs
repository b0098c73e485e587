//! The CDN outputs of a production build: content-hashed assets with every reference rewritten,
//! their cache rules, and minified HTML and CSS. Fixture: `fixtures/cdn-site`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use generator::optimize::fingerprint::{content_hash, is_fingerprinted, with_hash};
use generator::postprocess::{ASSET_CACHE_CONTROL, HTML_CACHE_CONTROL, IMMUTABLE_CACHE_CONTROL};
use generator::{BuildOptions, SitePaths};
use regex::Regex;

const PRODUCTION: BuildOptions = BuildOptions {
    base_url: None,
    include_drafts: false,
    progress: BTreeMap::new(),
    live_reload: false,
    precompress: false,
    minify: true,
    fingerprint: true,
    on_stage: None,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cdn-site")
}

/// Builds `root` into a fresh folder and returns every output file by its relative path.
fn build(root: &Path, options: &BuildOptions) -> BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("public");
    generator::build(&SitePaths::detect(root).with_output(output.clone()), options).unwrap();
    walkdir::WalkDir::new(&output)
        .into_iter()
        .map(Result::unwrap)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let path = entry.path().strip_prefix(&output).unwrap().to_string_lossy().replace('\\', "/");
            (path, fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn text(files: &BTreeMap<String, Vec<u8>>, path: &str) -> String {
    String::from_utf8(files.get(path).unwrap_or_else(|| panic!("{path} was not built")).clone()).unwrap()
}

/// `css/site.css` → its hashed name in this build, checked to hold the same bytes.
fn hashed(files: &BTreeMap<String, Vec<u8>>, path: &str) -> String {
    let name = with_hash(path, &content_hash(&files[path]));
    assert_eq!(files.get(&name), Some(&files[path]), "{name} is a copy of {path}");
    name
}

#[test]
fn every_asset_a_page_names_is_its_hashed_copy_and_exists() {
    let files = build(&fixture(), &PRODUCTION);
    let attribute = Regex::new(r#"(?:src|href|content|srcset)=("[^"]*"|[^\s>]+)"#).unwrap();
    let mut checked = 0;
    for (path, bytes) in files.iter().filter(|(path, _)| path.ends_with(".html")) {
        let page = String::from_utf8_lossy(bytes);
        let folder = path.rfind('/').map_or("", |slash| &path[..=slash]);
        for value in attribute.captures_iter(&page) {
            for url in value[1].trim_matches('"').split(',').filter_map(|candidate| candidate.split_whitespace().next())
            {
                let local = match url.strip_prefix("https://cdn.test/").or_else(|| url.strip_prefix('/')) {
                    Some(root_relative) => root_relative.to_owned(),
                    None if url.contains(':') => continue,
                    None => format!("{folder}{url}"),
                };
                let is_asset = [".css", ".js", ".png", ".jpg", ".woff2"].iter().any(|e| local.ends_with(e));
                if is_asset {
                    assert!(is_fingerprinted(&local), "{path} names {url}, not a hashed copy");
                    assert!(files.contains_key(&local), "{path} names {url}, which was not built");
                    checked += 1;
                }
            }
        }
    }
    // Two sheets, two scripts, an og:image, two srcset candidates, the src and the post's photo.
    assert!(checked >= 10, "only {checked} asset references found");
    let index = text(&files, "index.html");
    assert!(index.contains("https://elsewhere.test/img/bg.png"), "another site's URL stays: {index}");
    assert!(index.contains(&hashed(&files, "img/bg-2x.png")), "the inline style's url() too: {index}");
    let post = text(&files, "blog/post/index.html");
    let photo = hashed(&files, "blog/post/photo.jpg");
    assert!(post.contains(photo.trim_start_matches("blog/post/")), "a co-located asset, relative: {post}");
}

#[test]
fn style_sheets_name_the_hashed_fonts_and_images() {
    let files = build(&fixture(), &PRODUCTION);
    let (font, image) = (hashed(&files, "fonts/body.woff2"), hashed(&files, "img/bg.png"));
    let sheet = text(&files, &hashed(&files, "css/site.css"));
    assert!(sheet.contains(&format!("../{font}")), "{sheet}");
    assert!(sheet.contains(&format!("/{image}")), "{sheet}");
    let compiled = text(&files, &hashed(&files, "main.css"));
    assert!(compiled.contains(&format!("/{image}")), "Sass output is rewritten too: {compiled}");
    assert!(text(&files, "index.html").contains(&hashed(&files, "main.css")));
}

#[test]
fn a_changed_image_renames_the_sheets_that_name_it_and_nothing_else() {
    let site = tempfile::tempdir().unwrap();
    copy_folder(&fixture(), site.path());
    let before = build(site.path(), &PRODUCTION);
    let mut image = fs::read(site.path().join("static/img/bg.png")).unwrap();
    image.push(0);
    fs::write(site.path().join("static/img/bg.png"), image).unwrap();
    let after = build(site.path(), &PRODUCTION);

    assert_ne!(hashed(&before, "img/bg.png"), hashed(&after, "img/bg.png"));
    assert_ne!(hashed(&before, "css/site.css"), hashed(&after, "css/site.css"), "the sheet names the image");
    assert_eq!(hashed(&before, "fonts/body.woff2"), hashed(&after, "fonts/body.woff2"));
    assert_eq!(hashed(&before, "js/app.js"), hashed(&after, "js/app.js"));
}

/// The `Cache-Control` values `_headers` gives `url` as Netlify and Cloudflare Pages read it:
/// every rule whose pattern matches, a `*` standing for any run of characters.
fn cache_rules_for<'a>(rules: &'a str, url: &str) -> Vec<&'a str> {
    let mut values = Vec::new();
    let mut applies = false;
    for line in rules.lines() {
        match line.strip_prefix("  ") {
            None => {
                applies = match line.split_once('*') {
                    Some((prefix, suffix)) => {
                        url.len() >= prefix.len() + suffix.len() && url.starts_with(prefix) && url.ends_with(suffix)
                    }
                    None => line == url,
                }
            }
            Some(header) if applies => values.extend(header.strip_prefix("Cache-Control: ")),
            Some(_) => {}
        }
    }
    values
}

#[test]
fn hashed_files_are_immutable_pages_revalidate_and_no_url_gets_two_policies() {
    let files = build(&fixture(), &PRODUCTION);
    let rules = text(&files, "_headers");
    for path in files.keys() {
        let url = format!("/{}", path.strip_suffix("index.html").unwrap_or(path));
        let expected: &[&str] = if is_fingerprinted(path) {
            &[IMMUTABLE_CACHE_CONTROL]
        } else if path.ends_with(".html") {
            &[HTML_CACHE_CONTROL]
        } else {
            &[] // the host's revalidating default
        };
        assert_eq!(cache_rules_for(&rules, &url), expected, "{url} in {rules}");
    }
    assert!(files.keys().filter(|path| is_fingerprinted(path)).count() >= 8);
    // Cloudflare Pages reads at most 100 rules of at most 2,000 characters a line.
    assert!(rules.lines().filter(|line| line.starts_with('/')).count() <= 100, "{rules}");
    assert!(rules.lines().all(|line| line.len() <= 2000), "{rules}");
    let nginx = text(&files, "_headers.nginx");
    assert!(nginx.contains(IMMUTABLE_CACHE_CONTROL) && nginx.contains(ASSET_CACHE_CONTROL), "{nginx}");
}

#[test]
fn pages_style_sheets_and_scripts_are_minified() {
    let files = build(&fixture(), &PRODUCTION);
    let plain = build(&fixture(), &BuildOptions::default());
    let index = text(&files, "index.html");
    assert!(!index.contains("<!--") && !index.contains("\n    "), "{index}");
    assert!(index.len() < plain["index.html"].len());
    let script = text(&files, "js/app.js");
    assert!(script.len() < plain["js/app.js"].len() && !script.contains("// Writes"), "{script}");
    assert!(script.contains("function writeYear(") && script.contains("getElementById(`year`)"), "{script}");
    // The hashed copy is the minified script, so its name is the hash of what is served.
    assert_eq!(text(&files, &hashed(&files, "js/app.js")), script);
    let sheet = text(&files, "css/site.css");
    assert!(!sheet.contains("/*") && !sheet.contains('\n'), "{sheet}");
}

#[test]
fn without_the_options_no_file_is_renamed_or_rewritten() {
    let files = build(&fixture(), &BuildOptions::default());
    // resize_image's output is named by what it was made from in every build.
    let renamed = files.keys().filter(|path| !path.starts_with("processed_images/")).any(|path| is_fingerprinted(path));
    assert!(!renamed, "{:?}", files.keys());
    assert_eq!(text(&files, "css/site.css"), fs::read_to_string(fixture().join("static/css/site.css")).unwrap());
}

#[test]
fn production_builds_are_byte_identical() {
    assert_eq!(build(&fixture(), &PRODUCTION), build(&fixture(), &PRODUCTION));
}

fn copy_folder(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().map(Result::unwrap) {
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn resized_images_are_written_once_with_immutable_names() {
    let files = build(&fixture(), &PRODUCTION);
    let index = text(&files, "index.html");
    let processed: Vec<&String> = files.keys().filter(|path| path.starts_with("processed_images/")).collect();
    assert_eq!(processed.len(), 1, "{processed:?}");
    let path = processed[0];
    assert!(is_fingerprinted(path), "{path}");
    assert!(index.contains(&format!("https://cdn.test/{path}")), "{index}");
    let image = image::load_from_memory(&files[path.as_str()]).unwrap();
    assert_eq!((image.width(), image.height()), (4, 2));
    let rules = text(&files, "_headers");
    assert_eq!(cache_rules_for(&rules, &format!("/{path}")), [IMMUTABLE_CACHE_CONTROL]);
}
