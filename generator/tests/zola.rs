//! A Zola-format site (`tests/fixtures/zola-site`: `zola.toml`, sections, dated pages, two
//! taxonomies, pagination, a bundle with a co-located file, aliases, a transparent section, a
//! shortcode, Sass, a translation) built unchanged, with what Zola's documentation promises
//! checked page by page. Each test names the rows of the feature table in `generator/README.md`
//! it proves.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use generator::{BuildOptions, SitePaths};

/// The fixture is built once; the tests read its output.
fn built() -> &'static Path {
    static OUTPUT: OnceLock<tempfile::TempDir> = OnceLock::new();
    OUTPUT
        .get_or_init(|| {
            let out = tempfile::tempdir().unwrap();
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zola-site");
            let paths = SitePaths::detect(&root).with_output(out.path().join("public"));
            generator::build(&paths, &BuildOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            out
        })
        .path()
}

fn read(path: &str) -> String {
    fs::read_to_string(built().join("public").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn exists(path: &str) -> bool {
    built().join("public").join(path).exists()
}

/// The texts of every `class="{class}"` element's content, in order.
fn texts(html: &str, class: &str) -> Vec<String> {
    let marker = format!("class=\"{class}\"");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..start + rest[start..].find('<').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn sections_sort_by_date_and_paginate_with_zola_urls() {
    // Rows: sort_by, paginate_by, paginator, pager 1 redirect.
    let first = read("blog/index.html");
    assert!(first.contains("Post 5") && first.contains("Post 4") && !first.contains("Post 3"), "{first}");
    assert!(first.find("Post 5").unwrap() < first.find("Post 4").unwrap(), "newest first: {first}");
    assert!(first.contains(r#"data-current="1" data-of="3""#), "{first}");
    assert!(first.contains(r#"href="https://example.org/blog/page/2/""#), "{first}");
    assert!(first.contains(r#"<p class="count">0</p>"#), "a paginated section lists its pages only in the paginator");
    let second = read("blog/page/2/index.html");
    assert!(second.contains("Post 3") && second.contains("Post 2"), "{second}");
    assert!(second.contains(r#"rel="prev" href="https://example.org/blog/""#), "pager 2 goes back to the section");
    let third = read("blog/page/3/index.html");
    assert!(third.contains("Post 1") && third.contains("Bundle") && !third.contains("Undated"), "{third}");
    assert!(read("blog/page/1/index.html").contains(r#"url=https://example.org/blog/""#));
    assert!(exists("blog/undated/index.html"), "left out of the list, still rendered");
}

#[test]
fn pages_get_dates_summaries_tocs_neighbours_and_shortcodes() {
    // Rows: date, summary, table of contents, reading time, lower/higher, shortcodes, smart punctuation.
    let post = read("blog/post-3/index.html");
    assert!(post.contains("<time>2024-01-03</time>"), "{post}");
    assert!(post.contains(r#"<div class="summary"><p>First paragraph of post 3.</p>"#), "{post}");
    assert!(post.contains(r#"<h2 id="details-of-3">Details of 3</h2>"#), "{post}");
    assert_eq!(texts(&post, "toc"), ["Details of 3"]);
    assert!(post.contains(r#"href="https://example.org/blog/post-3/#details-of-3""#), "{post}");
    assert_eq!(texts(&post, "lower"), ["Post 4"], "lower is the one before in the section's order");
    assert_eq!(texts(&post, "higher"), ["Post 2"]);
    assert!(post.contains(r#"<span class="badge level-3">hot</span>"#), "{post}");
    // A shortcode in code is expanded, and the code shows what it writes.
    let code = read("blog/post-4/index.html");
    // (The template's own line break stays, as in Zola.)
    let shown = "<pre><code>&lt;span class=\"badge level-4\"&gt;in code&lt;/span&gt;\n\n</code></pre>";
    assert!(code.contains(shown), "{code}");
    assert!(post.contains("“quotes” –"), "smart punctuation: {post}");
    assert!(post.contains(r#"<p class="reading">1 "#), "{post}");
    // backlinks: the pages whose bodies link here with @/, in permalink order.
    assert_eq!(texts(&read("blog/post-1/index.html"), "backlink"), ["Bundle", "Post 3"]);
    assert!(texts(&post, "backlink").is_empty());
    // render_emoji, external_links_class, and the markdown filter with @/ links and the
    // site's settings.
    assert!(
        post.contains("Done 🎉 at 10:30, see <a href=\"https://www.getzola.org\" class=\"external\">Zola</a>"),
        "{post}"
    );
    assert!(post.contains(r#"<p class="description">Number <em>3</em></p>"#), "{post}");
    assert!(
        post.contains(
            "<div class=\"block\"><p><em>See</em> <a href=\"https://example.org/docs/a/\">a</a> 🎉</p>\n</div>"
        ),
        "{post}"
    );
}

#[test]
fn taxonomies_have_list_and_paginated_term_pages() {
    // Rows: taxonomies, term pagination, taxonomy templates, get_taxonomy_url.
    let list = read("tags/index.html");
    assert_eq!(texts(&list, "term"), ["Rust (5)", "Tag 0 (2)", "Tag 1 (3)"]);
    let rust = read("tags/rust/index.html");
    assert!(rust.contains(r#"<h1 class="tag-term">Rust</h1>"#), "tags/single.html wins over taxonomy_single.html");
    assert_eq!(texts(&rust, "paged"), ["Post 5", "Post 4"]);
    assert_eq!(texts(&rust, "pager"), ["1/3"]);
    assert_eq!(texts(&read("tags/rust/page/3/index.html"), "paged"), ["Post 1"]);
    assert!(read("tags/rust/page/1/index.html").contains("url=https://example.org/tags/rust/"));
    let authors = read("authors/ann/index.html");
    assert_eq!(texts(&authors, "listed"), ["5"], "taxonomy_single.html reads term.pages, so it gets them");
    let post = read("blog/post-2/index.html");
    assert!(post.contains(r#"<a class="tag" href="https://example.org/tags/tag-0/">Tag 0</a>"#), "{post}");
}

#[test]
fn languages_get_their_prefix_taxonomies_and_translations() {
    // Rows: multilingual, translations, lang.
    let french = read("fr/blog/post-1/index.html");
    assert!(french.contains(r#"<html lang="fr">"#), "{french}");
    assert!(french.contains(r#"<a class="tag" href="https://example.org/fr/tags/rust/">Rust</a>"#), "{french}");
    let english = read("blog/post-1/index.html");
    assert_eq!(texts(&english, "translation"), ["en", "fr"]);
    assert!(exists("fr/tags/index.html"));
}

#[test]
fn bundles_aliases_transparent_sections_and_sass() {
    // Rows: co-located assets, aliases, transparent, page_template, weight, Sass, 404, sitemap.
    let bundle = read("blog/bundle/index.html");
    assert_eq!(texts(&bundle, "asset"), ["blog/bundle/photo.txt"]);
    assert!(exists("blog/bundle/photo.txt"));
    assert!(bundle.contains(r#"href="https://example.org/blog/post-1/#details-of-1""#), "{bundle}");
    assert!(read("moved.html").contains("url=https://example.org/blog/bundle/"));
    assert!(read("old-blog/index.html").contains("url=https://example.org/blog/"));
    let home = read("index.html");
    assert_eq!(texts(&home, "home-page"), ["A", "B"], "a transparent section lends its pages, by weight");
    assert!(home.contains(r#"<section data-path="blog/_index.md">Blog: 6</section>"#), "{home}");
    assert!(read("docs/a/index.html").contains(r#"<main class="doc">A</main>"#), "the section's page_template");
    assert_eq!(read("site.css"), "body{color:#123456}");
    assert!(!exists("_colours.css"));
    assert!(exists("404.html") && exists("robots-note.txt"));
    // ignored_content and ignored_static: globs over paths inside their folders.
    assert!(!exists("blog/notes-draft/index.html") && !exists("blog/notes.draft/index.html"));
    assert!(!read("blog/index.html").contains("Not for the site"));
    assert!(!exists("scratch.tmp"));
    let sitemap = read("sitemap.xml");
    assert!(sitemap.contains("<loc>https://example.org/blog/page/2/</loc>"), "{sitemap}");
    assert!(sitemap.contains("<loc>https://example.org/blog/post-1/</loc><lastmod>2024-01-01T10:00:00Z</lastmod>"));
    assert!(!sitemap.contains("page/1/") && !sitemap.contains("moved.html"), "no redirects: {sitemap}");
    let redirects = read("_redirects");
    assert!(redirects.contains("/moved.html https://example.org/blog/bundle/ 301\n"), "{redirects}");
    assert!(redirects.contains("/old-blog/ https://example.org/blog/ 301\n"), "{redirects}");
    assert!(redirects.contains("/blog/page/1/ https://example.org/blog/ 301\n"), "{redirects}");
}

/// The fixture copied into a temporary folder, so a test can break one file.
fn broken_copy(file: &str, append: &str) -> (tempfile::TempDir, SitePaths) {
    let copy = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zola-site");
    for entry in walkdir(&root) {
        let target = copy.path().join(entry.strip_prefix(&root).unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(&entry, &target).unwrap();
    }
    let path = copy.path().join(file);
    let text = fs::read_to_string(&path).unwrap() + append;
    fs::write(&path, text).unwrap();
    let paths = SitePaths::detect(copy.path()).with_output(copy.path().join("public"));
    (copy, paths)
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walkdir(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_link_to_a_missing_heading_fails_the_build_with_its_line() {
    // Row: internal links with anchors.
    let (_copy, paths) = broken_copy("content/blog/post-2.md", "\nSee [gone](@/blog/post-1.md#no-such-heading).\n");
    let error = generator::build(&paths, &BuildOptions::default()).unwrap_err().to_string();
    assert!(error.contains("post-2.md:17: internal link @/blog/post-1.md#no-such-heading"), "{error}");
    assert!(!paths.output.exists(), "nothing is written");
}

#[test]
fn a_heading_with_an_html_shortcode_keeps_its_words_for_its_id_and_links_to_it() {
    let (copy, paths) = broken_copy("content/blog/post-2.md", "\n## Hot {{ badge(text=\"x\", level=1) }} news\n");
    let post_1 = paths.content.join("blog/post-1.md");
    let text = fs::read_to_string(&post_1).unwrap() + "\nSee [the news](@/blog/post-2.md#hot-news).\n";
    fs::write(&post_1, text).unwrap();
    generator::build(&paths, &BuildOptions::default()).unwrap();
    let post = fs::read_to_string(copy.path().join("public/blog/post-2/index.html")).unwrap();
    assert!(post.contains("<h2 id=\"hot-news\">Hot <span class=\"badge level-1\">x</span>\n news</h2>"), "{post}");
    assert!(post.contains(r#"class="toc" href="https://example.org/blog/post-2/#hot-news">Hot  news</a>"#), "{post}");
}

#[test]
fn a_page_in_an_unknown_taxonomy_is_refused() {
    let (_copy, paths) = broken_copy("content/docs/a.md", "");
    let text = fs::read_to_string(paths.content.join("docs/a.md"))
        .unwrap()
        .replace("weight = 1", "weight = 1\n[taxonomies]\ncolours = [\"red\"]");
    fs::write(paths.content.join("docs/a.md"), text).unwrap();
    let error = generator::build(&paths, &BuildOptions::default()).unwrap_err().to_string();
    assert!(error.contains("a.md: taxonomy `colours` is not configured for language `en`"), "{error}");
}

/// The `<title>`s of a feed's entries or items, in order, after checking it is well-formed XML.
fn feed_titles(xml: &str, entry: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut titles, mut depth_in_entry, mut in_title) = (Vec::new(), false, false);
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("not XML: {e}\n{xml}")) {
            quick_xml::events::Event::Start(tag) if tag.name().as_ref() == entry.as_bytes() => depth_in_entry = true,
            quick_xml::events::Event::End(tag) if tag.name().as_ref() == entry.as_bytes() => depth_in_entry = false,
            quick_xml::events::Event::Start(tag) if tag.name().as_ref() == b"title" => in_title = depth_in_entry,
            quick_xml::events::Event::Text(text) if in_title => {
                titles.push(text.decode().unwrap().into_owned());
                in_title = false;
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    titles
}

#[test]
fn feeds_list_the_newest_dated_pages_per_language_and_term() {
    // Rows: generate_feeds, feed_filenames, feed_limit, taxonomy feed.
    let atom = read("atom.xml");
    assert_eq!(feed_titles(&atom, "entry"), ["Post 5", "Post 4", "Post 3", "Post 2"], "feed_limit = 4");
    assert!(atom.contains("<updated>2024-01-05T10:00:00Z</updated>"), "{atom}");
    assert!(atom.contains(r#"<link rel="self" type="application/atom+xml" href="https://example.org/atom.xml"/>"#));
    let rss = read("rss.xml");
    assert_eq!(feed_titles(&rss, "item"), ["Post 5", "Post 4", "Post 3", "Post 2"]);
    assert!(rss.contains("<pubDate>Fri, 5 Jan 2024 10:00:00 +0000</pubDate>"), "{rss}");
    assert_eq!(feed_titles(&read("fr/atom.xml"), "entry"), ["Article 1"]);
    assert_eq!(feed_titles(&read("tags/tag-0/atom.xml"), "entry"), ["Post 4", "Post 2"]);
    assert!(!exists("authors/ann/atom.xml"), "authors has no feed = true");
}

/// The documents of `search_index.{lang}.js`, by permalink.
fn search_documents(lang: &str) -> serde_json::Map<String, serde_json::Value> {
    let script = read(&format!("search_index.{lang}.js"));
    let json = script.strip_prefix("window.searchIndex = ").unwrap_or_else(|| panic!("not a script: {script}"));
    let index: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(index["fields"], serde_json::json!(["title", "description", "body"]), "[search] picks the fields");
    index["documentStore"]["docs"].as_object().unwrap().clone()
}

#[test]
fn the_search_index_holds_each_languages_pages_and_sections() {
    // Rows: build_search_index, [search], in_search_index.
    let english = search_documents("en");
    let post = &english["https://example.org/blog/post-3/"];
    assert_eq!(post["title"], "Post 3");
    assert_eq!(post["description"], "Number *3*");
    let body = post["body"].as_str().unwrap();
    assert!(body.starts_with("First paragraph of post 3.\nDetails of 3\n"), "tags dropped, lines kept: {body}");
    assert!(!body.contains('<'), "{body}");
    assert!(english.contains_key("https://example.org/blog/"), "sections are documents too");
    assert!(!english.contains_key("https://example.org/blog/undated/"), "in_search_index = false");
    assert!(!english.keys().any(|url| url.contains("/fr/")), "{:?}", english.keys());
    let french = search_documents("fr");
    assert!(french.keys().all(|url| url.starts_with("https://example.org/fr/")), "{:?}", french.keys());
    assert_eq!(french["https://example.org/fr/docs/"]["body"], "Les docs.");
    assert!(english.values().all(|doc| doc["body"].as_str().unwrap().chars().count() <= 200));
}

#[test]
fn code_blocks_are_highlighted_with_classes_when_the_config_asks() {
    // Row: syntax highlighting (`[markdown.highlighting]`, `style = "class"`).
    let page = read("blog/undated/index.html");
    let block = &page[page.find("<pre").unwrap()..page.find("</pre>").unwrap()];
    assert!(block.starts_with(r#"<pre class="giallo z-code" ><code data-lang="rust">"#), "{block}");
    assert!(!block.contains("style="), "the pages' CSP refuses style attributes: {block}");
    assert!(
        block.contains(r#"<span class="giallo-l z-hl"><span aria-hidden="true" class="giallo-ln">2</span>"#),
        "{block}"
    );
    assert!(block.contains(">fn</span>") && block.contains("class=\"z-"), "{block}");
    // The sheet those classes need is written at the site's root, with the theme's colours.
    let sheet = read("giallo.css");
    let keyword = block.split("class=\"").skip(1).map(|rest| &rest[..rest.find('"').unwrap()]);
    let classes: Vec<&str> = keyword.filter(|class| class.starts_with("z-") && *class != "z-code").collect();
    assert!(classes.iter().any(|class| sheet.contains(&format!(".{class}"))), "{classes:?} in {sheet}");
    assert!(sheet.contains('#'), "colours: {sheet}");
}

#[test]
fn an_unknown_language_fails_the_build_when_error_on_missing_language_asks() {
    let (_dir, paths) = broken_copy("content/blog/post-2.md", "\n```no-such-language\nx\n```\n");
    let config = paths.config.clone();
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("style = \"class\"", "style = \"class\"\nerror_on_missing_language = true"))
        .unwrap();
    let error = generator::build(&paths, &BuildOptions::default()).unwrap_err().to_string();
    assert!(error.contains("post-2.md:17: a code block is in `no-such-language`"), "{error}");
    assert!(error.contains("\n       17 | ```no-such-language\n"), "the fence is shown: {error}");
}

/// Rewrites `templates/doc.html`, which the two pages of `docs/` use, and builds.
fn build_with_doc_template(template: &str) -> String {
    let (_dir, paths) = broken_copy("templates/doc.html", "");
    fs::write(paths.templates.join("doc.html"), template).unwrap();
    generator::build(&paths, &BuildOptions::default()).unwrap_err().to_string()
}

#[test]
fn a_template_error_names_the_templates_line_once_for_every_page_that_met_it() {
    let error = build_with_doc_template(
        "{% extends \"base.html\" %}\n{% block content %}<h1>{{ page.title }}</h1>\n<p>{{ page.extra.no_such_key }}</p>{% endblock content %}",
    );
    assert!(error.contains("1 problem in"), "{error}");
    assert!(error.contains("templates/doc.html:3: template doc.html: "), "{error}");
    assert!(error.contains("Variable `page.extra.no_such_key` not found"), "{error}");
    assert!(error.contains("content/docs/a.md and 1 other file)"), "{error}");
    assert!(error.contains("\n        3 | <p>{{ page.extra.no_such_key }}</p>"), "the line is shown: {error}");
}

#[test]
fn an_anchor_link_template_that_fails_is_an_error_at_its_line() {
    let (_dir, paths) = broken_copy("templates/doc.html", "");
    let section = paths.content.join("blog/_index.md");
    let text = fs::read_to_string(&section).unwrap().replace("sort_by", "insert_anchor_links = \"right\"\nsort_by");
    fs::write(section, text).unwrap();
    fs::write(paths.templates.join("anchor-link.html"), "<a href=\"#{{ id }}\">\n{{ no_such_variable }}</a>").unwrap();
    let error = generator::build(&paths, &BuildOptions::default()).unwrap_err().to_string();
    assert!(error.contains("templates/anchor-link.html:2: template anchor-link.html: "), "{error}");
    assert!(error.contains("Variable `no_such_variable` not found"), "{error}");
    assert!(error.contains("(rendering "), "the page is named: {error}");
}

#[test]
fn a_template_that_does_not_parse_names_its_line() {
    let error = build_with_doc_template(
        "{% extends \"base.html\" %}\n\n{% block content %}{{ page.title | }}{% endblock content %}",
    );
    assert!(error.contains("1 problem in"), "the templates that extend a parent are not blamed: {error}");
    assert!(error.contains("templates/doc.html:3: Failed to parse 'doc.html' (column "), "{error}");
    assert!(error.contains("expected"), "{error}");
    assert!(error.contains("\n        3 | {% block content %}{{ page.title | }}"), "the line is shown: {error}");
}
