//! Minification of pages and scripts (style sheets are minified where `css` prints them).
//!
//! Scripts go through oxc, conservatively: parsed, local names shortened and printed without
//! white space or comments, but not "compressed", because oxc's compressor assumes things of
//! the code (no getters with side effects, no reliance on `Function.prototype.toString`) that
//! a site's hand-written scripts need not honour. A script oxc cannot parse is left as written.
//! minify-html's own JavaScript minifier (minify-js 0.6) is not used: it turns
//! `function f() { return this.x }` into an arrow function, which has no `this` of its own.

use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions};
use oxc_mangler::MangleOptions;
use oxc_minifier::{Minifier, MinifierOptions};
use oxc_parser::Parser;
use oxc_span::SourceType;

/// Spec-compliant minification only: optional tags and quotes may go, but nothing a browser
/// would read differently. Inline scripts stay as written, for the reason above.
pub fn html(source: &[u8]) -> Vec<u8> {
    let mut config = minify_html::Cfg::new();
    config.minify_css = true;
    config.minify_js = false;
    config.keep_ssi_comments = true;
    minify_html::minify(source, &config)
}

/// A script file minified, or `None` when it does not parse (it is then served as written).
/// `.mjs` files are modules; `.js` files are parsed as classic scripts, as a `<script>` without
/// `type="module"` runs them, so their top-level names (globals other scripts may use) are kept.
pub fn script(source: &str, module: bool) -> Option<String> {
    let allocator = Allocator::default();
    let source_type = if module { SourceType::mjs() } else { SourceType::cjs() };
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if parsed.panicked || !parsed.diagnostics.is_empty() {
        return None;
    }
    let mut program = parsed.program;
    let mangle = MangleOptions { top_level: Some(false), ..MangleOptions::default() };
    let options = MinifierOptions { mangle: Some(mangle), compress: None, ..MinifierOptions::default() };
    let minified = Minifier::new(options).minify(&allocator, &mut program);
    let code =
        Codegen::new().with_options(CodegenOptions::minify()).with_scoping(minified.scoping).build(&program).code;
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::script;

    #[test]
    fn scripts_shrink_and_keep_their_meaning() {
        let source = "// totals\nfunction start(element) {\n  const refresh = () => this.poll(element, arguments.length);\n  return refresh;\n}\nwindow.start = start;\n";
        let minified = script(source, false).unwrap();
        assert!(minified.len() < source.len() * 3 / 4, "{minified}");
        assert!(!minified.contains("totals") && !minified.contains('\n'), "comments and lines go: {minified}");
        assert!(minified.contains("function start("), "a classic script's globals keep their names: {minified}");
        assert!(minified.contains("this.poll") && minified.contains("arguments.length"), "{minified}");
        assert!(!minified.contains("refresh"), "local names are shortened: {minified}");
    }

    #[test]
    fn the_reference_themes_scripts_minify_to_scripts_that_parse_again() {
        let scripts = [
            include_str!("../../../themes/pledge/static/totals.js"),
            include_str!("../../../themes/pledge/static/donate.js"),
            include_str!("../../../themes/pledge/static/referral.js"),
            include_str!("../../../themes/pledge/static/errors.js"),
        ];
        for source in scripts {
            let minified = script(source, false).expect("the theme's scripts parse");
            assert!(minified.len() < source.len(), "{minified}");
            assert!(script(&minified, false).is_some(), "the output parses again: {minified}");
        }
    }

    #[test]
    fn a_script_that_does_not_parse_is_left_alone() {
        assert_eq!(script("function (", false), None);
    }
}
