//! Stage 4, post-process: what a CDN needs beside the pages: sitemap, robots.txt and the cache
//! rules file (`_headers`). Pure: it adds files to the rendered site.

use std::fmt::Write as _;

use crate::config::SiteConfig;
use crate::render::{OutputFile, RenderedSite};

/// Cache policy, one place: hashed or versioned assets could be immutable, but until assets are
/// fingerprinted every file gets a short TTL; HTML may be served stale while the CDN revalidates,
/// so a rebuild reaches every visitor within a minute without origin stampedes.
pub const HTML_CACHE_CONTROL: &str = "public, max-age=60, stale-while-revalidate=600, stale-if-error=86400";
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=3600, stale-while-revalidate=86400";

/// The script the dev server answers with reload events; only `pledge serve` adds it.
pub const LIVE_RELOAD_SCRIPT: &str = "<script src=\"/__pledge/livereload.js\"></script>";

pub fn postprocess(mut site: RenderedSite, config: &SiteConfig, live_reload: bool) -> RenderedSite {
    if live_reload {
        inject_live_reload(&mut site);
    }
    if config.generate_sitemap {
        let sitemap = sitemap(&site, config);
        site.files.insert("sitemap.xml".into(), OutputFile::Bytes(sitemap.into_bytes()));
    }
    if config.generate_robots_txt && !site.files.contains_key("robots.txt") {
        let robots = format!("User-agent: *\nDisallow:\nAllow: /\nSitemap: {}/sitemap.xml\n", config.base_url);
        site.files.insert("robots.txt".into(), OutputFile::Bytes(robots.into_bytes()));
    }
    let headers = header_rules(&site);
    site.files.insert("_headers".into(), OutputFile::Bytes(headers.into_bytes()));
    site
}

fn inject_live_reload(site: &mut RenderedSite) {
    for (path, file) in site.files.iter_mut() {
        if let (true, OutputFile::Bytes(bytes)) = (path.ends_with(".html"), file) {
            let html = String::from_utf8_lossy(bytes);
            let injected = match html.rfind("</body>") {
                Some(at) => format!("{}{LIVE_RELOAD_SCRIPT}{}", &html[..at], &html[at..]),
                None => format!("{html}{LIVE_RELOAD_SCRIPT}"),
            };
            *bytes = injected.into_bytes();
        }
    }
}

fn sitemap(site: &RenderedSite, config: &SiteConfig) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for path in site.files.keys().filter(|p| p.ends_with("index.html")) {
        let page = path.trim_end_matches("index.html");
        let _ = writeln!(xml, "  <url><loc>{}/{}</loc></url>", config.base_url, escape_xml(page));
    }
    xml.push_str("</urlset>\n");
    xml
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The `_headers` format (Netlify, Cloudflare Pages): a path line, then indented headers. Hosts
/// merge every matching rule, so each path gets exactly one `Cache-Control` and no catch-all
/// rule sets it.
fn header_rules(site: &RenderedSite) -> String {
    let mut rules = String::from("/*\n  X-Content-Type-Options: nosniff\n");
    for path in site.files.keys().filter(|p| p.as_str() != "_headers") {
        let (url, policy) = match path.strip_suffix("index.html") {
            Some(dir) => (format!("/{dir}"), HTML_CACHE_CONTROL),
            None if path.ends_with(".html") => (format!("/{path}"), HTML_CACHE_CONTROL),
            None => (format!("/{path}"), ASSET_CACHE_CONTROL),
        };
        let _ = writeln!(rules, "{url}\n  Cache-Control: {policy}");
    }
    rules
}
