//! Shortcodes through the whole path a body takes: expand, render the Markdown, restore.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::json;
use tera::{Context, Tera};

use super::{ShortcodeError, Shortcodes, expand};
use crate::render::markdown;

fn site(templates: &[(&str, &str)]) -> (Tera, Shortcodes) {
    let mut tera = Tera::default();
    for (name, text) in templates {
        tera.add_raw_template(name, text).unwrap();
    }
    let shortcodes = Shortcodes::from_tera(&tera);
    (tera, shortcodes)
}

fn base() -> Context {
    let mut base = Context::new();
    base.insert("config", &json!({ "title": "Site" }));
    base.insert("lang", "en");
    base.insert("page", &json!({ "title": "Page" }));
    base
}

/// The body as the page will show it.
fn render(body: &str, templates: &[(&str, &str)]) -> Result<String, ShortcodeError> {
    let (tera, shortcodes) = site(templates);
    let expanded = expand(body, &shortcodes, &tera, &base())?;
    Ok(expanded.restore(markdown::to_html(&expanded.markdown, &HashMap::new(), "")))
}

fn expand_only(body: &str, templates: &[(&str, &str)]) -> Result<String, ShortcodeError> {
    let (tera, shortcodes) = site(templates);
    expand(body, &shortcodes, &tera, &base()).map(|expanded| expanded.markdown.into_owned())
}

const SPAN: (&str, &str) = ("shortcodes/span.html", "<span>{{ text }}</span>");
const QUOTE: (&str, &str) = ("shortcodes/quote.html", "<blockquote>{{ body | safe }}|{{ author }}</blockquote>");

#[test]
fn html_output_reaches_the_page_untouched_by_markdown() {
    // A blank line, an indented line and emphasis marks: Markdown would rework each of them.
    let output = "<div class=\"box\">\n\n    *kept*  _as_ <em>is</em>\n\n</div>";
    let html = render("Intro\n\n{{ raw() }}\n\nOutro\n", &[("shortcodes/raw.html", output)]).unwrap();
    assert_eq!(html, format!("<p>Intro</p>\n{output}\n<p>Outro</p>\n"));
}

#[test]
fn inline_html_output_stays_in_its_paragraph() {
    let html = render("Say {{ span(text=\"hi\") }}!\n\n{{ span(text=\"alone\") }}\n", &[SPAN]).unwrap();
    assert_eq!(html, "<p>Say <span>hi</span>!</p>\n<p><span>alone</span></p>\n");
}

#[test]
fn html_output_can_fill_an_attribute_or_a_link() {
    let url = ("shortcodes/url.html", "/docs/a1");
    let html = render("<a href=\"{{ url() }}\">raw</a> and [md]({{ url() }})\n", &[url]).unwrap();
    assert!(html.contains("<a href=\"/docs/a1\">raw</a>"), "{html}");
    assert!(html.contains("<a href=\"/docs/a1\">md</a>"), "{html}");
}

#[test]
fn markdown_output_is_rendered_with_the_rest_of_the_body() {
    let heading = ("shortcodes/heading.md", "## {{ title }}\n\n*emphasis*");
    let html = render("{{ heading(title=\"Goals\") }}\n", &[heading]).unwrap();
    // Whatever id the renderer gives the heading, it is a heading and the emphasis is emphasis.
    assert!(html.starts_with("<h2") && html.ends_with(">Goals</h2>\n<p><em>emphasis</em></p>\n"), "{html}");
}

#[test]
fn every_kind_of_argument_reaches_the_template_with_its_type() {
    let types = (
        "shortcodes/types.html",
        "{{ s }}|{{ d }}|{{ b }}|{{ i + 1 }}|{{ n }}|{{ f * 2 }}|{% if yes %}Y{% endif %}{% if not no %}N{% endif %}|\
         {{ xs | length }}|{{ xs | json_encode() | safe }}",
    );
    let body = "{{ types(s='single', d=\"double\", b=`back`, i=41, n=-3, f=1.25, yes=true, no=false, \
                xs=[1, \"a\", 2.5, true]) }}";
    let html = render(body, &[types]).unwrap();
    assert_eq!(html, "<p>single|double|back|42|-3|2.5|YN|4|[1,\"a\",2.5,true]</p>\n");
}

#[test]
fn a_shortcode_without_arguments_needs_only_its_parentheses() {
    let html = render("{{ rule() }}\n\n{{rule()}}\n", &[("shortcodes/rule.html", "<hr>")]).unwrap();
    assert_eq!(html, "<hr>\n<hr>\n");
}

#[test]
fn a_body_shortcode_gets_the_text_up_to_its_end_as_body() {
    let html = render("{% quote(author=\"Vincent\") %}\nA *quote*\n{% end %}\n", &[QUOTE]).unwrap();
    assert_eq!(html, "<blockquote>A *quote*|Vincent</blockquote>\n");
}

#[test]
fn shortcodes_in_a_body_are_expanded_into_the_body() {
    let body = "{% quote(author=\"V\") %}\nSee {{ span(text=\"x\") }}\n{% end %}\n";
    let html = render(body, &[QUOTE, SPAN]).unwrap();
    assert_eq!(html, "<blockquote>See <span>x</span>|V</blockquote>\n");
}

#[test]
fn body_shortcodes_nest_and_count_in_the_order_they_open() {
    let boxed = ("shortcodes/boxed.html", "<div data-n=\"{{ nth }}\">{{ body | safe }}</div>");
    let body = "{% boxed() %}\n{% boxed() %}\ninner\n{% end %}\n{% end %}\n\n{% boxed() %}\nlast\n{% end %}\n";
    let html = render(body, &[boxed]).unwrap();
    assert_eq!(html, "<div data-n=\"1\"><div data-n=\"2\">inner</div></div>\n<div data-n=\"3\">last</div>\n");
}

#[test]
fn nth_counts_the_calls_of_each_shortcode_separately() {
    let n = ("shortcodes/n.html", "n{{ nth }}");
    let m = ("shortcodes/m.md", "m{{ nth }}");
    let html = render("{{ n() }} {{ m() }} {{ n() }} {{ n() }} {{ m() }}\n", &[n, m]).unwrap();
    assert_eq!(html, "<p>n1 m1 n2 n3 m2</p>\n");
}

#[test]
fn page_and_config_override_arguments_but_lang_and_nth_yield_to_them() {
    let context = ("shortcodes/context.html", "{{ page.title }}|{{ config.title }}|{{ lang }}|{{ nth }}");
    let html = render("{{ context() }} {{ context(page=\"arg\", config=\"arg\", lang=\"fr\", nth=9) }}\n", &[context])
        .unwrap();
    assert_eq!(html, "<p>Page|Site|en|1 Page|Site|fr|9</p>\n");
}

#[test]
fn a_section_body_sees_its_section() {
    let (tera, shortcodes) = site(&[("shortcodes/where.md", "{{ section.title }}")]);
    let mut base = base();
    base.remove("page");
    base.insert("section", &json!({ "title": "Blog" }));
    let expanded = expand("In {{ where() }}.", &shortcodes, &tera, &base).unwrap();
    assert_eq!(expanded.markdown, "In Blog.");
}

#[test]
fn the_body_argument_is_the_body() {
    let html = render("{% quote(author=\"A\", body=\"arg\") %}\nreal\n{% end %}", &[QUOTE]).unwrap();
    assert_eq!(html, "<blockquote>real|A</blockquote>\n");
}

#[test]
fn shortcodes_in_code_are_expanded_and_their_output_shown_as_text() {
    let body = "Inline `{{ span(text=\"a\") }}` code.\n\n```html\n{{ span(text=\"b\") }}\n{% quote(author=\"V\") %}\nq\n{% end %}\n```\n\n    {{ span(text=\"c\") }}\n";
    let html = render(body, &[SPAN, QUOTE]).unwrap();
    assert!(html.contains("<code>&lt;span&gt;a&lt;/span&gt;</code>"), "{html}");
    assert!(
        html.contains("&lt;span&gt;b&lt;/span&gt;\n&lt;blockquote&gt;q|V&lt;/blockquote&gt;\n</code></pre>"),
        "{html}"
    );
    assert!(html.contains("<pre><code>&lt;span&gt;c&lt;/span&gt;\n</code></pre>"), "{html}");
}

#[test]
fn template_syntax_in_code_that_is_no_call_stays_as_written() {
    let body = "```jinja\n{{ get_url(path=page.path) }}\n{% end %}\n{{ broken(\n```\n\n`{% end %}`\n";
    let html = render(body, &[]).unwrap();
    assert!(html.contains("{{ get_url(path=page.path) }}\n{% end %}\n{{ broken(\n</code></pre>"), "{html}");
    assert!(html.contains("<code>{% end %}</code>"), "{html}");
}

#[test]
fn an_unknown_shortcode_in_code_is_an_error_as_in_zola() {
    let error = render("x\n\n```\n{{ nope() }}\n```\n", &[]).unwrap_err();
    assert_eq!(error.line, 4);
    assert!(error.message.contains("unknown shortcode `nope`") && error.message.contains("escape it"), "{error}");
}

#[test]
fn code_beside_a_shortcode_does_not_change_it() {
    let html = render("`code` then {{ span(text=\"sc\") }} and `{{ span(text=\"in\") }}`\n", &[SPAN]).unwrap();
    assert_eq!(html, "<p><code>code</code> then <span>sc</span> and <code>&lt;span&gt;in&lt;/span&gt;</code></p>\n");
}

#[test]
fn escaped_shortcodes_are_written_out_literally_in_text_and_code() {
    let body = "{{/* youtube(id=\"x\") */}}\n\n{%/* quote(author=\"V\") */%}\nA quote\n{%/* end */%}\n\n```md\n{{/* youtube() */}}\n```\n";
    let markdown = expand_only(body, &[]).unwrap();
    assert_eq!(
        markdown,
        "{{ youtube(id=\"x\") }}\n\n{% quote(author=\"V\") %}\nA quote\n{% end %}\n\n```md\n{{ youtube() }}\n```\n"
    );
}

#[test]
fn text_that_only_looks_like_a_tag_stays_text() {
    let body = "Templates print {{ variable }} and test {% if x %}, maths has {{a}}.";
    assert_eq!(expand_only(body, &[SPAN]).unwrap(), body);
}

#[test]
fn a_body_without_shortcodes_is_borrowed_and_restored_as_is() {
    let (tera, shortcodes) = site(&[SPAN]);
    let body = "# Title\n\nBraces { alone } and {\"json\": 1} cost nothing.\n";
    let expanded = expand(body, &shortcodes, &tera, &base()).unwrap();
    assert!(matches!(expanded.markdown, Cow::Borrowed(_)));
    assert_eq!(expanded.restore("<p>html</p>".into()), "<p>html</p>");
}

#[test]
fn only_shortcode_templates_named_like_shortcodes_are_shortcodes() {
    let (_, shortcodes) = site(&[
        ("page.html", ""),
        ("shortcodes/ok.html", ""),
        ("shortcodes/partials/part.html", ""),
        ("shortcodes/bad-name.html", ""),
        ("shortcodes/notes.txt", ""),
    ]);
    let mut names: Vec<&str> = shortcodes.by_name.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["ok"]);
    assert!(!shortcodes.is_empty());
    assert!(site(&[("page.html", "")]).1.is_empty());
}

#[test]
fn each_error_names_its_line_and_quotes_the_call() {
    let fails = ("shortcodes/fails.html", "{{ missing_variable }}");
    let both_html = ("shortcodes/both.html", "");
    let both_md = ("shortcodes/both.md", "");
    let cases: &[(&str, usize, &[&str])] = &[
        ("a\n\nb {{ missing(x=1) }}", 3, &["unknown shortcode `missing`", "`{{ missing(x=1) }}`", "missing.html"]),
        ("x\n{{ span(text=nope) }}", 2, &["bad shortcode `{{ span(text=nope) }}`", "`nope` is not a value"]),
        ("x\n\n{% quote(author=\"V\") %}\nbody\n", 3, &["`{% quote(author=\"V\") %}` is never closed"]),
        ("a\n{% end %}", 2, &["`{% end %}` closes no shortcode"]),
        ("\n{{ fails() }}", 2, &["shortcode `fails` failed in `{{ fails() }}`", "missing_variable"]),
        ("{{ both() }}", 1, &["`both` in `{{ both() }}` has two templates"]),
        ("{% quote(author=\"V\") %}\nline\n{{ missing() }}\n{% end %}", 3, &["unknown shortcode `missing`"]),
        ("{% missing() %}\nbody\n{% end %}", 1, &["unknown shortcode `missing` in `{% missing() %}`"]),
        ("{{ span(\n  text=\"a\") }} {{ span(text=1, text=2) }}", 2, &["`text` is given twice"]),
        ("{{ fails(\n  a=1) }}", 1, &["failed in `{{ fails(…`"]),
    ];
    for (body, line, expected) in cases {
        let error = render(body, &[SPAN, QUOTE, fails, both_html, both_md]).unwrap_err();
        assert_eq!(error.line, *line, "{body:?}: {error}");
        for part in *expected {
            assert!(error.message.contains(part), "{body:?}: {} lacks {part}", error.message);
        }
    }
}

#[test]
fn html_output_in_a_heading_is_no_part_of_its_id_or_its_table_of_contents_title() {
    let (tera, shortcodes) = site(&[SPAN, ("shortcodes/word.md", "Word")]);
    let body = "## Hello {{ span(text=\"x\") }} {{ word() }}\n";
    let expanded = expand(body, &shortcodes, &tera, &base()).unwrap();
    let links = HashMap::new();
    let page =
        markdown::Page { internal_links: &links, base_url: "", permalink: "", held_marker: Some(expanded.marker()) };
    let rendered = markdown::render(
        &expanded.markdown,
        &page,
        &markdown::MarkdownSettings::default(),
        &markdown::BuiltinTemplates,
    );
    assert_eq!(expanded.restore(rendered.html), "<h2 id=\"hello-word\">Hello <span>x</span> Word</h2>\n");
    assert_eq!(rendered.toc[0].title, "Hello  Word");
}

#[test]
fn without_calls_keeps_the_words_and_writes_escapes_out() {
    let text =
        "## Hi {{ span(text=\"x\") }} there\n{% quote() %}\nq\n{% end %}\n{{/* shown() */}} {{ var }} {{ bad(x=y) }}";
    assert_eq!(super::without_calls(text), "## Hi  there\n\nq\n\n{{ shown() }} {{ var }} {{ bad(x=y) }}");
    assert!(matches!(super::without_calls("plain { text }"), Cow::Borrowed(_)));
}

#[test]
fn a_failing_shortcode_template_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fails.html");
    let text = "<p>\n{{ missing_variable }}</p>";
    std::fs::write(&file, text).unwrap();
    let (tera, shortcodes) = site(&[("shortcodes/fails.html", text)]);
    let files = std::sync::Arc::new([("shortcodes/fails.html".to_string(), file.clone())].into_iter().collect());
    let error = expand("a\n{{ fails() }}", &shortcodes.with_files(files), &tera, &base()).unwrap_err();
    assert_eq!(error.line, 2);
    let place = format!("failed in `{{{{ fails() }}}}` at {}:2: ", file.display());
    assert!(error.message.contains(&place), "{}", error.message);
}
