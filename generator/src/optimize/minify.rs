//! Minification of pages (style sheets are minified where `css` prints them).
//!
//! Scripts are left as written: the JavaScript minifier minify-html offers (minify-js 0.6)
//! turns `function f() { return this.x }` into an arrow function, which has no `this` or
//! `arguments` of its own, so it changes what a script does. Scripts are precompressed, which
//! gains most of what minifying would.

/// Spec-compliant minification only: optional tags and quotes may go, but nothing a browser
/// would read differently. Inline scripts stay as written, for the reason above.
pub fn html(source: &[u8]) -> Vec<u8> {
    let mut config = minify_html::Cfg::new();
    config.minify_css = true;
    config.minify_js = false;
    config.keep_ssi_comments = true;
    minify_html::minify(source, &config)
}
