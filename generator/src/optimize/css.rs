//! Style sheets through lightningcss: the `url()` references rewritten, and printed minified
//! when asked.

use std::convert::Infallible;

use lightningcss::stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleAttribute, StyleSheet};
use lightningcss::values::url::Url;
use lightningcss::visit_types;
use lightningcss::visitor::{Visit, VisitTypes, Visitor};

/// `rewrite` gets every `url()` as written and returns its replacement, if any.
pub fn style_sheet(css: &str, minify: bool, rewrite: impl FnMut(&str) -> Option<String>) -> Result<String, String> {
    // Recovering keeps rules lightningcss does not know (a vendor hack, newer syntax) as written.
    let options = ParserOptions { error_recovery: true, ..ParserOptions::default() };
    let mut sheet = StyleSheet::parse(css, options).map_err(|error| error.to_string())?;
    let Ok(()) = sheet.visit(&mut Urls(rewrite));
    if minify {
        sheet.minify(MinifyOptions::default()).map_err(|error| error.to_string())?;
    }
    let printed =
        sheet.to_css(PrinterOptions { minify, ..PrinterOptions::default() }).map_err(|error| error.to_string())?;
    Ok(printed.code)
}

/// The declarations of a `style="…"` attribute.
pub fn style_attribute(css: &str, rewrite: impl FnMut(&str) -> Option<String>) -> Result<String, String> {
    let options = ParserOptions { error_recovery: true, ..ParserOptions::default() };
    let mut declarations = StyleAttribute::parse(css, options).map_err(|error| error.to_string())?;
    let Ok(()) = declarations.visit(&mut Urls(rewrite));
    let printed = declarations.to_css(PrinterOptions::default()).map_err(|error| error.to_string())?;
    Ok(printed.code)
}

struct Urls<F>(F);

impl<'i, F: FnMut(&str) -> Option<String>> Visitor<'i> for Urls<F> {
    type Error = Infallible;

    fn visit_types(&self) -> VisitTypes {
        visit_types!(URLS)
    }

    fn visit_url(&mut self, url: &mut Url<'i>) -> Result<(), Infallible> {
        if let Some(rewritten) = (self.0)(&url.url) {
            url.url = rewritten.into();
        }
        Ok(())
    }
}
