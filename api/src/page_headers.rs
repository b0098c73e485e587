//! Security headers of the API's own HTML pages (a refused form post, a new share link): no
//! scripts, no framing, no forms, and only the one inline stylesheet they share, allowed by its
//! hash. The values are computed once, so a page costs no hashing.

use std::sync::LazyLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The stylesheet of the API's small pages, inside their `<style>` element.
pub const PAGE_STYLE: &str = "body{font:1.1rem/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}\
                              input{font:inherit;width:100%;padding:.5rem}";

/// `Content-Security-Policy` for those pages.
pub fn page_policy() -> &'static str {
    static POLICY: LazyLock<String> = LazyLock::new(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_STYLE.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    });
    &POLICY
}

/// Adds the page headers to a response being built.
pub fn secure_page(response: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    response
        .insert_header((actix_web::http::header::CONTENT_SECURITY_POLICY, page_policy()))
        .insert_header((actix_web::http::header::X_FRAME_OPTIONS, "DENY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_page_style() {
        // The hash of the exact bytes between <style> and </style>, as a browser computes it.
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PAGE_STYLE));
        assert!(page_policy().contains(&format!("style-src 'sha256-{expected}'")), "{}", page_policy());
        assert!(!page_policy().contains("unsafe-inline"));
        assert!(page_policy().contains("frame-ancestors 'none'"));
    }
}
