//! Whole-document behaviour of [`render`]; each module tests its own parts.

use super::*;

fn links() -> HashMap<String, String> {
    HashMap::from([("about.md".to_string(), "/about/".to_string())])
}

fn render_with(body: &str, settings: &MarkdownSettings) -> Rendered {
    let links = links();
    let page = Page {
        internal_links: &links,
        base_url: "https://site.org",
        permalink: "https://site.org/post/",
        held_marker: None,
    };
    render(body, &page, settings, &BuiltinTemplates)
}

fn render_default(body: &str) -> Rendered {
    render_with(body, &MarkdownSettings::default())
}

/// The toc as `level:id "title" [children]` lines, indented by depth.
fn outline(toc: &[Heading], depth: usize, out: &mut String) {
    for heading in toc {
        out.push_str(&format!("{}{}:{} {:?}\n", "  ".repeat(depth), heading.level, heading.id, heading.title));
        outline(&heading.children, depth + 1, out);
    }
}

#[test]
fn internal_links_become_permalinks_with_their_anchor() {
    let html = to_html("[us](@/about.md#team) and [x](https://x.org)", &links(), "https://site.org");
    assert!(html.contains(r#"href="https://site.org/about/#team""#), "{html}");
    assert!(html.contains(r#"href="https://x.org""#), "{html}");
}

#[test]
fn heading_attributes_keep_id_and_classes_but_set_no_other_attribute() {
    // Found by the `markdown` fuzz target: `{style=…}` became a style attribute.
    let html = to_html("# Hi {#top .big style=color:red onclick=alert(1) data-x}\n", &HashMap::new(), "");
    assert_eq!(html, "<h1 id=\"top\" class=\"big\">Hi</h1>\n");
}

#[test]
fn aligned_table_cells_get_classes_not_style_attributes() {
    let html = to_html("| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n", &HashMap::new(), "");
    assert!(!html.contains("style="), "{html}");
    assert!(html.contains(r#"<th class="align-left">a</th>"#), "{html}");
    assert!(html.contains(r#"<td class="align-center">2</td>"#), "{html}");
    assert!(html.contains(r#"<td class="align-right">3</td>"#), "{html}");
    assert!(html.contains("<td>4</td>"), "{html}");
}

#[test]
fn every_heading_gets_an_id_from_its_text() {
    let rendered = render_default("# Something exciting!\n\n## Example `code` *here*\n");
    assert!(rendered.html.contains(r#"<h1 id="something-exciting">Something exciting!</h1>"#), "{}", rendered.html);
    assert!(rendered.html.contains(r#"<h2 id="example-code-here">"#), "{}", rendered.html);
}

#[test]
fn duplicate_headings_get_numbered_ids() {
    let rendered = render_default("# Example\n\n## Example\n\n### Example\n");
    let ids: Vec<_> = rendered
        .toc
        .iter()
        .flat_map(|h| [h.id.clone()].into_iter().chain(h.children.iter().map(|c| c.id.clone())))
        .collect();
    assert_eq!(ids, ["example", "example-1"]);
    assert!(rendered.html.contains(r#"<h3 id="example-2">"#), "{}", rendered.html);
}

#[test]
fn an_explicit_id_wins_and_generated_ids_step_around_it() {
    let rendered = render_default("# Intro\n\n# Later {#intro}\n");
    assert!(rendered.html.contains(r#"<h1 id="intro-1">Intro</h1>"#), "{}", rendered.html);
    assert!(rendered.html.contains(r#"<h1 id="intro">Later</h1>"#), "{}", rendered.html);
}

#[test]
fn the_anchor_strategy_decides_the_id() {
    let body = "# Ça marche (vraiment)\n";
    let with = |slugify_anchors| {
        render_with(body, &MarkdownSettings { slugify_anchors, ..MarkdownSettings::default() }).toc[0].id.clone()
    };
    assert_eq!(with(AnchorSlugs::On), "ca-marche-vraiment");
    assert_eq!(with(AnchorSlugs::Safe), "Ça-marche-vraiment");
    assert_eq!(with(AnchorSlugs::Off), "Ça marche (vraiment)");
}

#[test]
fn heading_ids_match_what_render_assigns() {
    let body = "# A\n\n## A {#a}\n\n## “Quotes” & ![alt](x.png) `code`\n\nSetext\n======\n\n# A\n";
    for settings in [
        MarkdownSettings::default(),
        MarkdownSettings {
            smart_punctuation: true,
            lazy_async_image: true,
            slugify_anchors: AnchorSlugs::Safe,
            ..Default::default()
        },
    ] {
        let mut rendered = Vec::new();
        fn flatten(toc: &[Heading], out: &mut Vec<String>) {
            for heading in toc {
                out.push(heading.id.clone());
                flatten(&heading.children, out);
            }
        }
        flatten(&render_with(body, &settings).toc, &mut rendered);
        assert_eq!(heading_ids(body, &settings), rendered, "{settings:?}");
        assert_eq!(rendered.len(), 5);
    }
}

#[test]
fn the_toc_nests_by_level_with_text_titles_and_page_permalinks() {
    let rendered = render_default("# One\n\n## Two *em* `code`\n\n### Three\n\n## Four\n\n# Five\n");
    let mut out = String::new();
    outline(&rendered.toc, 0, &mut out);
    assert_eq!(
        out,
        "1:one \"One\"\n  2:two-em-code \"Two em code\"\n    3:three \"Three\"\n  2:four \"Four\"\n1:five \"Five\"\n"
    );
    assert_eq!(rendered.toc[0].children[0].permalink, "https://site.org/post/#two-em-code");
}

#[test]
fn the_summary_is_what_precedes_the_more_marker() {
    let rendered = render_default("First *paragraph*.\n\n<!-- more -->\n\nSecond.\n");
    assert_eq!(rendered.summary.as_deref(), Some("<p>First <em>paragraph</em>.</p>\n"));
    assert_eq!(rendered.html, format!("<p>First <em>paragraph</em>.</p>\n{CONTINUE_READING}\n<p>Second.</p>\n"));
}

#[test]
fn a_marker_inside_a_block_closes_what_it_leaves_open_and_adds_the_cutoff() {
    let rendered = render_default("> It was a *dark <!-- more --> and stormy* night.\n");
    assert_eq!(
        rendered.summary.as_deref(),
        Some("<blockquote>\n<p>It was a <em>dark &hellip;</em></p>\n</blockquote>\n")
    );
    assert!(rendered.html.contains(&format!("dark {CONTINUE_READING} and stormy")), "{}", rendered.html);
}

#[test]
fn without_a_marker_there_is_no_summary() {
    let rendered = render_default("Just text <!-- less -->\n");
    assert_eq!(rendered.summary, None);
    assert!(!rendered.html.contains("continue-reading"), "{}", rendered.html);
}

#[test]
fn smart_punctuation_is_only_on_when_asked() {
    let body = "\"Quoted\" -- and...\n";
    assert_eq!(render_default(body).html, "<p>\"Quoted\" -- and...</p>\n");
    let smart = render_with(body, &MarkdownSettings { smart_punctuation: true, ..Default::default() });
    assert_eq!(smart.html, "<p>“Quoted” – and…</p>\n");
}

#[test]
fn external_links_get_the_attributes_asked_for_and_internal_ones_none() {
    let body = "[x](https://x.org \"X\") [us](@/about.md) [here](/local/)";
    assert_eq!(render_default(body).html.matches("rel=").count(), 0);
    let all = MarkdownSettings {
        external_links_target_blank: true,
        external_links_no_follow: true,
        external_links_no_referrer: true,
        ..Default::default()
    };
    let html = render_with(body, &all).html;
    assert!(
        html.contains(r#"<a href="https://x.org" title="X" rel="noopener nofollow noreferrer" target="_blank">x</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"<a href="https://site.org/about/">us</a>"#), "{html}");
    assert!(html.contains(r#"<a href="/local/">here</a>"#), "{html}");
    let follow_only =
        render_with(body, &MarkdownSettings { external_links_no_follow: true, ..Default::default() }).html;
    assert!(follow_only.contains(r#"title="X" rel="nofollow">x</a>"#), "{follow_only}");
    let classed = MarkdownSettings { external_links_class: Some("out \"x\"".into()), ..Default::default() };
    let classed = render_with(body, &classed).html;
    assert!(classed.contains(r#"<a href="https://x.org" title="X" class="out &quot;x&quot;">x</a>"#), "{classed}");
    assert!(classed.contains(r#"<a href="/local/">here</a>"#), "{classed}");
}

#[test]
fn anchor_links_go_where_the_setting_says() {
    let body = "## Hello\n";
    let with =
        |insert_anchor_links| render_with(body, &MarkdownSettings { insert_anchor_links, ..Default::default() }).html;
    let link = r##"<a class="zola-anchor" href="#hello" aria-label="Anchor link for: hello">🔗</a>"##;
    assert_eq!(with(AnchorLinks::None), "<h2 id=\"hello\">Hello</h2>\n");
    assert_eq!(with(AnchorLinks::Left), format!("<h2 id=\"hello\">{link}Hello</h2>\n"));
    assert_eq!(with(AnchorLinks::Right), format!("<h2 id=\"hello\">Hello{link}</h2>\n"));
    assert_eq!(
        with(AnchorLinks::Heading),
        "<h2 id=\"hello\"><a class=\"zola-anchor\" href=\"#hello\" aria-label=\"Anchor link for: hello\">Hello</a></h2>\n"
    );
}

#[test]
fn a_site_template_renders_the_anchor_link_with_id_and_level() {
    struct Site;
    impl Templates for Site {
        fn anchor_link(&self, anchor: &AnchorContext) -> String {
            format!("<a href=\"#{}\" data-level=\"{}\">#</a>", anchor.id, anchor.level)
        }
    }
    let links = links();
    let page = Page { internal_links: &links, base_url: "", permalink: "", held_marker: None };
    let settings = MarkdownSettings { insert_anchor_links: AnchorLinks::Right, ..Default::default() };
    let html = render("### Deep\n", &page, &settings, &Site).html;
    assert_eq!(html, "<h3 id=\"deep\">Deep<a href=\"#deep\" data-level=\"3\">#</a></h3>\n");
}

#[test]
fn word_count_and_reading_time_follow_the_raw_markdown() {
    let body = format!("# Title\n\n{}\n\n```\nnot counted at all\n```\n", "word ".repeat(250));
    let rendered = render_default(&body);
    assert_eq!(rendered.word_count, 251);
    assert_eq!(rendered.reading_time, 2);
}

#[test]
fn lazy_images_load_lazily_with_plain_text_alt() {
    let body = "![a *b* `c`](@/about.md \"T\")";
    assert_eq!(render_default(body).html, "<p><img src=\"https://site.org/about/\" alt=\"a b c\" title=\"T\" /></p>\n");
    let lazy = render_with(body, &MarkdownSettings { lazy_async_image: true, ..Default::default() });
    assert_eq!(
        lazy.html,
        "<p><img src=\"https://site.org/about/\" alt=\"a b c\" title=\"T\" loading=\"lazy\" decoding=\"async\" /></p>\n"
    );
}

#[test]
fn bottom_footnotes_are_numbered_by_reference_and_link_back() {
    let body = "B[^b] then A[^a] and B again[^b].\n\n[^a]: Note A.\n\n[^b]: Note B.\n\n[^unused]: Never shown.\n";
    let html = render_with(body, &MarkdownSettings { bottom_footnotes: true, ..Default::default() }).html;
    let expected = concat!(
        "<p>B<sup class=\"footnote-reference\" id=\"fr-b-1\"><a href=\"#fn-b\">[1]</a></sup>",
        " then A<sup class=\"footnote-reference\" id=\"fr-a-1\"><a href=\"#fn-a\">[2]</a></sup>",
        " and B again<sup class=\"footnote-reference\" id=\"fr-b-2\"><a href=\"#fn-b\">[1]</a></sup>.</p>\n",
        "<footer class=\"footnotes\">\n<ol class=\"footnotes-list\">\n",
        "<li id=\"fn-b\">\n<p>Note B. <a href=\"#fr-b-1\">↩</a> <a href=\"#fr-b-2\">↩2</a></p>\n</li>\n",
        "<li id=\"fn-a\">\n<p>Note A. <a href=\"#fr-a-1\">↩</a></p>\n</li>\n",
        "</ol>\n</footer>\n",
    );
    assert_eq!(html, expected);
    let inline = render_default(body).html;
    assert!(inline.contains("class=\"footnote-definition\""), "{inline}");
}

#[test]
fn github_alerts_and_definition_lists_are_only_parsed_when_asked() {
    let alert = "> [!NOTE]\n> Read this.\n";
    assert!(!render_default(alert).html.contains("markdown-alert-note"));
    let on = MarkdownSettings { github_alerts: true, definition_list: true, ..Default::default() };
    assert!(render_with(alert, &on).html.contains("<blockquote class=\"markdown-alert-note\">"));
    let list = "Term\n: Definition\n";
    assert!(!render_default(list).html.contains("<dl>"));
    assert!(render_with(list, &on).html.contains("<dl>"), "{}", render_with(list, &on).html);
}

#[test]
fn emoji_names_become_emoji_in_text_but_not_in_code() {
    let body = "## Done :white_check_mark:\n\nThanks :heart: but `:heart:` stays\n\n```\n:heart:\n```\n";
    let html = render_with(body, &MarkdownSettings { render_emoji: true, ..Default::default() }).html;
    assert!(html.contains("Done ✅</h2>"), "{html}");
    assert!(html.contains("<p>Thanks ❤️ but <code>:heart:</code> stays</p>"), "{html}");
    assert!(html.contains("<pre><code>:heart:\n</code></pre>"), "{html}");
    assert!(render_default(body).html.contains("Thanks :heart:"), "off by default");
}

/// Settings with a `[markdown.highlighting]` table, read as `zola.toml` would be.
fn highlighting(table: &str) -> MarkdownSettings {
    let config: crate::config::HighlightingConfig = toml::from_str(table).expect("a valid table");
    let highlighter = highlight::Highlighter::for_site(&config, std::path::Path::new(".")).expect("known themes");
    MarkdownSettings { highlighting: Some(highlighter), ..Default::default() }
}

#[test]
fn a_rust_block_gets_the_themes_colours_inline() {
    let settings = highlighting(r#"theme = "github-dark""#);
    let html = render_with("```rust\nfn main() {}\n```\n\nAfter.\n", &settings).html;
    // github-dark's background and foreground on the block, its keyword red on `fn`.
    assert!(html.starts_with(r#"<pre class="giallo" style="color: #E1E4E8; background-color: #24292E;""#), "{html}");
    assert!(html.contains(r#"<code data-lang="rust">"#), "{html}");
    assert!(html.contains(r#"<span style="color: #F97583;">fn</span>"#), "{html}");
    assert!(html.ends_with("</code></pre>\n<p>After.</p>\n"), "{html}");
}

#[test]
fn hl_lines_marks_only_the_lines_named() {
    let settings = highlighting(r#"theme = "github-dark""#);
    let html = render_with("```rust,hl_lines=2\nlet a = 1;\nlet b = 2;\nlet c = 3;\n```\n", &settings).html;
    let lines: Vec<&str> = html.split(r#"<span class="giallo-l""#).skip(1).collect();
    assert_eq!(lines.len(), 3, "{html}");
    assert!(lines[1].starts_with(r#" style="background-color: #2B3036;">"#), "{html}");
    assert!(lines[0].starts_with('>') && lines[2].starts_with('>'), "{html}");
}

#[test]
fn linenos_numbers_lines_from_linenostart_and_hide_lines_drops_lines() {
    let settings = highlighting(r#"theme = "github-dark""#);
    let body = "```rust, linenos, linenostart=9, hide_lines=2\nlet a = 1;\nlet secret = 2;\nlet c = 3;\n```\n";
    let html = render_with(body, &settings).html;
    let numbers: Vec<&str> = html
        .split(r#"class="giallo-ln""#)
        .skip(1)
        .map(|rest| rest.split('>').nth(1).and_then(|n| n.split('<').next()).unwrap_or_default())
        .collect();
    // Padded to one width; the hidden line keeps its number, so the third line is still 11.
    assert_eq!(numbers, [" 9", "11"], "{html}");
    assert!(!html.contains("secret"), "{html}");
}

#[test]
fn an_unknown_language_renders_its_escaped_text_as_plain_and_is_reported() {
    let settings = highlighting(r#"theme = "github-dark""#);
    let rendered = render_with("```nosuchlang\n<b>&</b>\n```\n", &settings);
    assert!(rendered.html.contains(r#"<code data-lang="plain">"#), "{}", rendered.html);
    assert!(rendered.html.contains("&lt;b&gt;&amp;&lt;/b&gt;"), "{}", rendered.html);
    assert!(!rendered.html.contains("<b>"), "{}", rendered.html);
    assert_eq!(rendered.unknown_languages, ["nosuchlang"]);
    assert!(render_with("```rust\nlet a = 1;\n```\n", &settings).unknown_languages.is_empty());
}

#[test]
fn blocks_without_a_language_or_without_highlighting_render_as_before() {
    let settings = highlighting(r#"theme = "github-dark""#);
    for body in ["```\nlet a = <1>;\n```\n", "    indented <code>\n", "```linenos\nx\n```\n", "~~~\ntilde\n~~~\n"] {
        assert_eq!(render_with(body, &settings), render_default(body), "{body}");
    }
    assert_eq!(
        render_default("```rust\nfn main() {}\n```\n").html,
        "<pre><code class=\"language-rust\">fn main() {}\n</code></pre>\n"
    );
}

#[test]
fn class_style_writes_no_style_attribute_and_a_stylesheet_with_the_colours() {
    let settings = highlighting("theme = \"github-dark\"\nstyle = \"class\"");
    let html = render_with("```rust,linenos,hl_lines=1\nfn main() {}\n```\n", &settings).html;
    assert!(!html.contains("style="), "a CSP without 'unsafe-inline' refuses these: {html}");
    assert!(html.starts_with(r#"<pre class="giallo z-code" >"#), "{html}");
    assert!(html.contains(r#"<span class="giallo-l z-hl">"#), "{html}");
    let keyword =
        html.split(">fn</span>").next().and_then(|before| before.rsplit("class=\"").next()).unwrap_or_default();
    let keyword_class = keyword.trim_end_matches('"');
    assert!(keyword_class.starts_with("z-"), "{html}");
    let sheets = settings.highlighting.as_ref().map(|h| h.stylesheets()).unwrap_or_default();
    assert_eq!(sheets.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["giallo.css"]);
    let css = &sheets[0].1;
    assert!(css.contains(".z-code {\n  color: #E1E4E8;\n  background-color: #24292E;\n}"), "{css}");
    assert!(css.contains(&format!(".{keyword_class} {{ color: #F97583; }}")), "{keyword_class} in {css}");
}

#[test]
fn two_themes_follow_the_colour_scheme_inline_or_as_two_stylesheets() {
    let inline = highlighting("light_theme = \"github-light\"\ndark_theme = \"github-dark\"");
    let html = render_with("```rust\nfn main() {}\n```\n", &inline).html;
    assert!(html.contains("color: light-dark(#D73A49, #F97583);"), "{html}");
    assert!(inline.highlighting.as_ref().is_some_and(|h| h.stylesheets().is_empty()));

    let classes = highlighting("light_theme = \"github-light\"\ndark_theme = \"github-dark\"\nstyle = \"class\"");
    let html = render_with("```rust\nfn main() {}\n```\n", &classes).html;
    assert!(html.contains("z-l-code z-d-code") && !html.contains("style="), "{html}");
    let sheets = classes.highlighting.as_ref().map(|h| h.stylesheets()).unwrap_or_default();
    assert_eq!(sheets.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["giallo-light.css", "giallo-dark.css"]);
    assert!(sheets[0].1.contains(".z-l-code {\n  color: #24292E;"), "{}", sheets[0].1);
    assert!(sheets[1].1.contains(".z-d-code {\n  color: #E1E4E8;"), "{}", sheets[1].1);
}

#[test]
fn a_fence_name_becomes_an_escaped_data_attribute_where_asked() {
    let settings = highlighting(r#"theme = "github-dark""#);
    let html = render_with("```rust,name=a\"><script>.rs\nfn main() {}\n```\n", &settings).html;
    assert!(html.contains(r#"<code data-lang="rust" data-name="a&quot;&gt;&lt;script&gt;.rs">"#), "{html}");
    let on_pre = highlighting("theme = \"github-dark\"\ndata_attr_position = \"pre\"");
    let html = render_with("```rust,name=main.rs\nfn main() {}\n```\n", &on_pre).html;
    assert!(html.contains(r#"data-lang="rust" data-name="main.rs"><code >"#), "{html}");
}

#[test]
fn highlighting_tables_need_a_known_theme_and_only_zolas_keys() {
    use crate::config::{HighlightThemes, HighlightingConfig};
    let read = |table: &str| toml::from_str::<HighlightingConfig>(table).map_err(|e| e.to_string());
    assert!(read("style = \"class\"").unwrap_err().contains("needs `theme`"));
    assert!(read("light_theme = \"github-light\"").unwrap_err().contains("needs `theme`"));
    assert!(read("theme = \"github-dark\"\nlinenos = true").unwrap_err().contains("unknown field"));
    assert!(read("theme = \"github-dark\"\nstyle = \"css\"").is_err());
    let both = read("theme = \"nord\"\nlight_theme = \"github-light\"\ndark_theme = \"github-dark\"").unwrap();
    assert_eq!(both.themes, HighlightThemes::Single("nord".into()), "`theme` wins, as in Zola");
    let unknown = read("theme = \"no-such-theme\"").unwrap();
    let error = highlight::Highlighter::for_site(&unknown, std::path::Path::new(".")).unwrap_err();
    assert!(error.contains("theme `no-such-theme` does not exist"), "{error}");
    // Templates read it back in Zola's shape.
    let value = serde_json::to_value(read("theme = \"nord\"\nstyle = \"class\"").unwrap()).unwrap();
    assert_eq!(value["theme"], "nord");
    assert_eq!(value["style"], "class");
    assert!(value.get("light_theme").is_none());
}
