//! Builds small fixture sites and checks the pages, links and errors they produce.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use generator::{BuildError, BuildOptions, CampaignProgress, SitePaths};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Builds a fixture into a fresh temporary folder and returns that folder.
fn build(name: &str, options: &BuildOptions) -> (tempfile::TempDir, Result<generator::BuildReport, BuildError>) {
    let out = tempfile::tempdir().unwrap();
    let paths = SitePaths::detect(&fixture(name)).with_output(out.path().join("public"));
    let result = generator::build(&paths, options);
    (out, result)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn read(out: &Path, path: &str) -> String {
    fs::read_to_string(out.join("public").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn pages_and_sections_get_pretty_urls_and_their_templates() {
    let (out, result) = build("site", &BuildOptions::default());
    let report = result.unwrap();

    assert_eq!((report.pages, report.sections), (8, 3));
    assert!(read(out.path(), "about/index.html").contains("<h1>About</h1>"));
    assert!(read(out.path(), "ar/about/index.html").contains("<h1>عنا</h1>"));
    assert!(read(out.path(), "blog/the-first/index.html").contains("<h1>First</h1>"));
    assert!(!out.path().join("public/blog/draft").exists(), "drafts are left out");
    let blog = read(out.path(), "blog/index.html");
    assert!(blog.find("First").unwrap() < blog.find("Second").unwrap(), "sorted by weight: {blog}");
}

#[test]
fn site_templates_and_static_files_override_the_themes() {
    let (out, result) = build("site", &BuildOptions::default());
    result.unwrap();

    assert!(read(out.path(), "index.html").contains("site index: Home"));
    // theme.toml's [extra] under the site's: the site's keys win, shared tables merge.
    let extra = "<p class=\"extra\">teal, from the site, @plain@example.org, fixture</p>";
    assert!(read(out.path(), "index.html").contains(extra), "{}", read(out.path(), "index.html"));
    assert_eq!(read(out.path(), "shared.txt"), "from the site\n");
    assert_eq!(read(out.path(), "theme.css"), "body { color: black }\n");
}

#[test]
fn internal_links_and_get_url_resolve_to_permalinks() {
    let (out, result) = build("site", &BuildOptions::default());
    result.unwrap();

    let home = read(out.path(), "index.html");
    assert!(home.contains(r#"href="https://fixture.test/about/#team""#), "{home}");
    assert!(home.contains(r#"class="about" href="https://fixture.test/about/""#), "{home}");
    assert!(home.contains(r#"class="css" href="https://fixture.test/theme.css""#), "{home}");
    // cachebust: the theme's static file, found as get_hash finds it, by its SHA-256.
    let theme_css = fs::read(fixture("site").join("themes/plain/static/theme.css")).unwrap();
    let busted = format!(r#"class="busted" href="https://fixture.test/theme.css?h={}""#, sha256_hex(&theme_css));
    assert!(home.contains(&busted), "{home}");
    assert!(home.contains(r#"class="ar" href="https://fixture.test/ar/about/""#), "{home}");
    assert!(home.contains(r#"class="ar-page" href="https://fixture.test/ar/about/""#), "{home}");
    assert!(read(out.path(), "ar/index.html").contains(r#"href="https://fixture.test/ar/about/""#));
}

#[test]
fn translations_are_linked_and_ui_strings_translated() {
    let (out, result) = build("site", &BuildOptions::default());
    result.unwrap();

    let english = read(out.path(), "about/index.html");
    assert!(english.contains(r#"hreflang="ar" href="https://fixture.test/ar/about/""#), "{english}");
    assert!(english.contains(r#"<p class="greeting">Hello</p>"#));
    let arabic = read(out.path(), "ar/about/index.html");
    assert!(arabic.contains(r#"<html lang="ar">"#));
    assert!(arabic.contains(r#"<p class="greeting">مرحبا</p>"#));
}

#[test]
fn campaign_progress_at_build_time_is_in_the_page() {
    let progress = BTreeMap::from([("wells".to_string(), CampaignProgress { raised_minor: 25_050, donors: 3 })]);
    let (out, result) = build("site", &BuildOptions { progress, ..BuildOptions::default() });
    result.unwrap();

    let home = read(out.path(), "index.html");
    assert!(home.contains("250 of 1,000 USD from 3 donors (1,234,567) (25%)"), "{home}");
    assert!(home.contains("<li>10</li><li>12.50</li>"), "{home}");
    assert!(home.contains(r#"<span class="digits">١٢٬٣٤٥٫٥٠ ۲۰۲۴ 7</span>"#), "{home}");
}

#[test]
fn the_base_url_can_be_replaced_for_local_serving() {
    let options = BuildOptions { base_url: Some("http://127.0.0.1:9999/".into()), ..BuildOptions::default() };
    let (out, result) = build("site", &options);
    result.unwrap();

    assert!(read(out.path(), "index.html").contains(r#"href="http://127.0.0.1:9999/about/#team""#));
    assert!(read(out.path(), "sitemap.xml").contains("<loc>http://127.0.0.1:9999/about/</loc>"));
}

#[test]
fn cdn_files_are_generated() {
    let (out, result) = build("site", &BuildOptions::default());
    result.unwrap();

    let sitemap = read(out.path(), "sitemap.xml");
    assert!(sitemap.contains("<loc>https://fixture.test/ar/about/</loc>"), "{sitemap}");
    assert!(read(out.path(), "robots.txt").contains("Sitemap: https://fixture.test/sitemap.xml"));
    let headers = read(out.path(), "_headers");
    assert!(headers.contains("\n/*/\n  Cache-Control: public, max-age=60, stale-while-revalidate"), "{headers}");
    assert!(headers.contains("/*\n  X-Content-Type-Options: nosniff\n  Content-Security-Policy: "), "{headers}");
    assert!(
        !headers.contains("/about/") && !headers.contains("/theme.css"),
        "patterns, not a rule per file: {headers}"
    );
    assert_eq!(
        headers.matches("Cache-Control").count(),
        headers.matches("\n/").count(),
        "one policy per rule, none in the catch-all: {headers}"
    );
}

#[test]
fn text_files_get_gzip_and_brotli_twins_that_decompress_to_them() {
    let (out, result) = build("site", &BuildOptions { precompress: true, ..BuildOptions::default() });
    result.unwrap();
    let public = out.path().join("public");

    let page = fs::read(public.join("about/index.html")).unwrap();
    let mut gunzipped = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(public.join("about/index.html.gz")).unwrap())
        .read_to_end(&mut gunzipped)
        .unwrap();
    assert_eq!(gunzipped, page);
    let mut unbrotlied = Vec::new();
    brotli::Decompressor::new(fs::File::open(public.join("about/index.html.br")).unwrap(), 4096)
        .read_to_end(&mut unbrotlied)
        .unwrap();
    assert_eq!(unbrotlied, page);
    assert!(fs::metadata(public.join("about/index.html.br")).unwrap().len() < page.len() as u64);
    assert!(!public.join("_headers.gz").exists() && !public.join("_manifest.json.gz").exists());
}

#[test]
fn the_manifest_lists_every_file_with_its_hash_and_size() {
    let (out, result) = build("site", &BuildOptions { precompress: true, ..BuildOptions::default() });
    result.unwrap();
    let public = out.path().join("public");

    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(public.join("_manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["version"], 1);
    let listed: BTreeMap<String, serde_json::Value> = serde_json::from_value(manifest["files"].clone()).unwrap();
    let on_disk: Vec<String> = walk(&public)
        .iter()
        .map(|p| p.strip_prefix(&public).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|p| p != "_manifest.json")
        .collect();
    assert_eq!(listed.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = on_disk.clone();
        sorted.sort();
        sorted
    });
    for (path, entry) in &listed {
        let bytes = fs::read(public.join(path)).unwrap();
        assert_eq!(entry["size"], bytes.len() as u64, "{path}");
        assert_eq!(entry["sha256"], hex_sha256(&bytes), "{path}");
    }
    assert!(listed.contains_key("theme.css") && listed.contains_key("about/index.html.gz"));
}

fn hex_sha256(bytes: &[u8]) -> String {
    let output = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn nginx_gets_the_same_cache_rules_as_a_map() {
    let (out, result) = build("site", &BuildOptions::default());
    result.unwrap();

    let rules = read(out.path(), "_headers.nginx");
    assert!(rules.contains("map $uri $pledge_cache_control {"), "{rules}");
    assert!(rules.contains(r#"~\.html$ "public, max-age=60, stale-while-revalidate"#), "{rules}");
}

#[test]
fn the_same_sources_build_byte_identical_output() {
    let options = BuildOptions { precompress: true, ..BuildOptions::default() };
    let (first, a) = build("site", &options);
    let (second, b) = build("site", &options);
    a.unwrap();
    b.unwrap();

    let files = |dir: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        walk(dir).into_iter().map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), fs::read(&p).unwrap())).collect()
    };
    assert_eq!(files(&first.path().join("public")), files(&second.path().join("public")));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn every_content_problem_is_reported_at_once_with_file_and_line() {
    let (_out, result) = build("broken", &BuildOptions::default());

    let Err(BuildError::Content(problems)) = result else { panic!("expected content problems, got {result:?}") };
    let text = problems.to_string();
    let expected = [
        "content/links.md:6: internal link @/missing.md points to no content file",
        "content/typo.md:3: unknown field `dat`",
        "content/unclosed.md:1: front matter opened with +++ is never closed",
        "content/two.md: renders to /same/ which",
        "content/escape.md: path `../../escape` must be plain segments",
    ];
    for line in expected {
        assert!(text.contains(line), "expected {line:?} in:\n{text}");
    }
    assert_eq!(problems.0.len(), 5, "{text}");
    // Under each message, the offending text itself.
    assert!(
        text.contains("points to no content file\n        6 | A [broken link](@/missing.md) on line 6.\n"),
        "{text}"
    );
    assert!(text.contains("`extra`\n        3 | dat = 2024-01-01\n"), "{text}");
}

#[test]
fn a_failed_build_leaves_the_previous_output_intact() {
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("public");
    generator::build(&SitePaths::detect(&fixture("site")).with_output(output.clone()), &BuildOptions::default())
        .unwrap();
    let before = fs::read_to_string(output.join("index.html")).unwrap();

    let failed =
        generator::build(&SitePaths::detect(&fixture("broken")).with_output(output.clone()), &BuildOptions::default());

    assert!(failed.is_err());
    assert_eq!(fs::read_to_string(output.join("index.html")).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["public"], "no staging folders are left behind");
}

#[test]
fn a_config_typo_fails_with_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.toml"), "base_url = \"https://x.test\"\ntitel = \"x\"\n").unwrap();

    let error = generator::build(&SitePaths::detect(dir.path()), &BuildOptions::default()).unwrap_err();

    let text = error.to_string();
    assert!(text.contains("config.toml") && text.contains("line 2") && text.contains("titel"), "{text}");
}

#[test]
fn a_campaign_whose_result_page_is_missing_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("content")).unwrap();
    fs::write(
        dir.path().join("config.toml"),
        "base_url = \"https://x.test\"\n[[campaigns]]\nslug = \"c\"\ncurrency = \"USD\"\ngoal = 10\nmax_amount = 5\n",
    )
    .unwrap();
    fs::write(dir.path().join("content/thank-you.md"), "+++\ntitle = \"Thanks\"\n+++\n").unwrap();

    let error = generator::build(&SitePaths::detect(dir.path()), &BuildOptions::default()).unwrap_err();

    let text = error.to_string();
    assert!(text.contains("campaign `c` sends donors to /failed/, but no content renders there"), "{text}");
    assert!(!text.contains("/thank-you/"), "{text}");
}
