//! Stage 4, post-process: what a CDN needs beside the pages: sitemap, robots.txt and the cache
//! rules, as `_headers` (Netlify, Cloudflare Pages) and `_headers.nginx` (an nginx `map`).
//! Pure: it adds files to the rendered site.

use std::fmt::Write as _;

use crate::config::SiteConfig;
use crate::optimize::fingerprint::{self, FINGERPRINTED_PATTERN};
use crate::render::{OutputFile, RenderedSite};

/// Cache policy, one place. HTML may be served stale while the CDN revalidates, so a rebuild
/// reaches every visitor within a minute without origin stampedes. A content-hashed asset never
/// changes (a new version gets a new name), so it is kept for a year without revalidating;
/// other assets get a short TTL.
pub const HTML_CACHE_CONTROL: &str = "public, max-age=60, stale-while-revalidate=600, stale-if-error=86400";
pub const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=3600, stale-while-revalidate=86400";

/// The script the dev server answers with reload events; only `pledge serve` adds it.
pub const LIVE_RELOAD_SCRIPT: &str = "<script src=\"/__pledge/livereload.js\"></script>";

pub fn postprocess(mut site: RenderedSite, config: &SiteConfig, live_reload: bool) -> RenderedSite {
    if live_reload {
        inject_live_reload(&mut site);
    }
    if config.generate_sitemap {
        let sitemap = sitemap(&site);
        site.files.insert("sitemap.xml".into(), OutputFile::Bytes(sitemap.into_bytes()));
    }
    if config.generate_robots_txt && !site.files.contains_key("robots.txt") {
        let robots = format!("User-agent: *\nDisallow:\nAllow: /\nSitemap: {}/sitemap.xml\n", config.base_url);
        site.files.insert("robots.txt".into(), OutputFile::Bytes(robots.into_bytes()));
    }
    if !site.redirects.is_empty() {
        site.files.insert(REDIRECTS_FILE.into(), OutputFile::Bytes(redirect_rules(&site).into_bytes()));
    }
    let page_headers = page_headers(config);
    let headers = header_rules(&site, &page_headers);
    site.files.insert("_headers".into(), OutputFile::Bytes(headers.into_bytes()));
    site.files.insert(NGINX_RULES_FILE.into(), OutputFile::Bytes(nginx_rules(&page_headers).into_bytes()));
    site
}

/// Redirects in the `_redirects` format (Netlify, Cloudflare Pages): `from to status`. Hosts
/// answer them with a real 301; the redirect pages stay for hosts that read no such file.
pub const REDIRECTS_FILE: &str = "_redirects";

/// Cloudflare Pages reads at most this many static redirects, and 100 `_headers` rules; past
/// them it ignores the rest, so the build says so (Netlify has no such limits).
const CLOUDFLARE_REDIRECTS: usize = 2_000;
const CLOUDFLARE_HEADER_RULES: usize = 100;

fn redirect_rules(site: &RenderedSite) -> String {
    if site.redirects.len() > CLOUDFLARE_REDIRECTS {
        tracing::warn!(
            redirects = site.redirects.len(),
            "_redirects has more than Cloudflare Pages' {CLOUDFLARE_REDIRECTS} static redirects; it ignores the rest"
        );
    }
    let mut rules = String::new();
    for (from, to) in &site.redirects {
        // A space or newline would split the line into other fields.
        if !from.contains(char::is_whitespace) && !to.contains(char::is_whitespace) {
            let _ = writeln!(rules, "{from} {to} 301");
        }
    }
    rules
}

/// The cache rules for nginx, included at its `http` level (see `infra/nginx/pledge.conf`).
pub const NGINX_RULES_FILE: &str = "_headers.nginx";

/// The one place that decides a path's policy; `_headers` and the nginx map state the same
/// decision as patterns (a URL ending in `/` is served by its `index.html`).
pub fn cache_policy(path: &str) -> &'static str {
    if path.ends_with(".html") || path.ends_with('/') || path.is_empty() {
        HTML_CACHE_CONTROL
    } else if fingerprint::is_fingerprinted(path) {
        IMMUTABLE_CACHE_CONTROL
    } else {
        ASSET_CACHE_CONTROL
    }
}

/// The security headers, from the site config (`_headers` gives them to every response, the
/// nginx map to pages). The Content-Security-Policy is [`content_security_policy`]'s.
pub fn page_headers(config: &SiteConfig) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains".into()),
        ("Referrer-Policy", "strict-origin-when-cross-origin".into()),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()".into()),
    ];
    if let Some(policy) = content_security_policy(config) {
        headers.insert(0, ("Content-Security-Policy", policy));
    }
    headers
}

/// `extra.content_security_policy`: a string is the site's own policy, `false` sends none and
/// `true` asks for Pledge's strict one. Unset, a campaign site (one with `[[campaigns]]`, built
/// on Pledge's theme, which has no inline script, event handler or `style` attribute) gets the
/// strict policy, and any other Zola site none: a theme brought unchanged may rely on inline
/// scripts and styles (inline highlighting colours among them) that the strict policy refuses.
pub fn content_security_policy(config: &SiteConfig) -> Option<String> {
    match config.extra.get("content_security_policy") {
        // Header values must stay one line.
        Some(toml::Value::String(policy)) => Some(policy.replace(['\r', '\n'], " ")),
        Some(toml::Value::Boolean(false)) => None,
        Some(toml::Value::Boolean(true)) => Some(strict_policy(config)),
        _ if config.campaigns.is_empty() => None,
        _ => Some(strict_policy(config)),
    }
}

/// The pages load only their own files, talk to their own origin and the API's, post forms
/// only there and to the payment pages the API redirects to (`extra.form_action_origins`: a
/// browser checks a form's redirects against `form-action` too), and are never framed.
fn strict_policy(config: &SiteConfig) -> String {
    let api = config.extra.get("api_url").and_then(toml::Value::as_str).and_then(origin);
    let api = api.map(|origin| format!(" {origin}")).unwrap_or_default();
    let gateways: String = config
        .extra
        .get("form_action_origins")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .filter_map(origin)
        .map(|origin| format!(" {origin}"))
        .collect();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{api}; form-action 'self'{api}{gateways}; frame-ancestors 'none'; \
         base-uri 'self'; object-src 'none'"
    )
}

/// `https://host:port` of a URL, or `None` for an empty or relative one (the same origin).
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    // Header values must stay one line and one token per source.
    if !matches!(scheme, "http" | "https") || host.contains(|c: char| c.is_whitespace() || c == ';' || c == ',') {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

/// Adds the dev server's reload script to every page of `site`.
pub fn inject_live_reload(site: &mut RenderedSite) {
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

fn sitemap(site: &RenderedSite) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for entry in &site.sitemap {
        let _ = write!(xml, "  <url><loc>{}</loc>", escape_xml(&entry.permalink));
        if let Some(updated) = &entry.updated {
            let _ = write!(xml, "<lastmod>{}</lastmod>", escape_xml(updated));
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    xml
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The `_headers` format (Netlify, Cloudflare Pages): a URL pattern line, then indented headers.
/// Hosts apply every matching rule and Cloudflare joins a header set twice with a comma, so no
/// two rules that can match one URL both set `Cache-Control`. Cloudflare also allows only 100
/// rules, so the file says it with patterns, not a rule per file: the headers every response
/// gets under `/*`, pages by their URL shapes, and one rule per content-hashed file (few, and the
/// only kind no pattern can tell from its original). Other files get the host's own revalidating
/// default; `cache_policy` still gives them a short TTL where the server is ours (nginx, deploy).
/// The headers a `_headers` file gives `path`, as hosts read it: every block whose pattern is
/// the path, or matches it with its one `*` standing for any run of characters, in order.
pub fn headers_for<'a>(rules: &'a str, path: &str) -> Vec<(&'a str, &'a str)> {
    let mut headers = Vec::new();
    let mut applies = false;
    for line in rules.lines() {
        if !line.starts_with([' ', '\t']) {
            let pattern = line.trim();
            applies = match pattern.split_once('*') {
                Some((prefix, suffix)) => {
                    path.len() >= prefix.len() + suffix.len() && path.starts_with(prefix) && path.ends_with(suffix)
                }
                None => pattern == path,
            };
        } else if applies && let Some((name, value)) = line.trim().split_once(':') {
            headers.push((name.trim(), value.trim()));
        }
    }
    headers
}

fn header_rules(site: &RenderedSite, page_headers: &[(&str, String)]) -> String {
    let mut rules = String::from("/*\n  X-Content-Type-Options: nosniff\n");
    for (name, value) in page_headers {
        let _ = writeln!(rules, "  {name}: {value}");
    }
    for pattern in PAGE_PATTERNS {
        let _ = writeln!(rules, "{pattern}\n  Cache-Control: {HTML_CACHE_CONTROL}");
    }
    for path in site.files.keys().filter(|path| fingerprint::is_fingerprinted(path)) {
        let _ = writeln!(rules, "/{path}\n  Cache-Control: {IMMUTABLE_CACHE_CONTROL}");
    }
    let count = rules.lines().filter(|line| line.starts_with('/')).count();
    if count > CLOUDFLARE_HEADER_RULES {
        tracing::warn!(
            rules = count,
            "_headers has more than Cloudflare Pages' {CLOUDFLARE_HEADER_RULES} rules (one per hashed file); it ignores the rest"
        );
    }
    rules
}

/// Every URL a page is served at: the home page, a folder's `index.html` and any `.html` file
/// (404.html, redirect pages). A hashed asset never ends in `/` or `.html`, so these never
/// overlap its rule.
pub const PAGE_PATTERNS: [&str; 3] = ["/", "/*/", "/*.html"];

/// nginx evaluates the map when a response header reads it, after `try_files` has settled on
/// the file, so `$uri` is then the file served.
fn nginx_rules(page_headers: &[(&str, String)]) -> String {
    let mut rules = format!(
        "# Generated by `pledge build`: include at nginx's http level and add\n\
         # `add_header Cache-Control $pledge_cache_control always;` where the site is served,\n\
         # and one `add_header NAME $pledge_VARIABLE always;` per page header map below\n\
         # (an empty value adds no header, so assets get none of them).\n\
         map $uri $pledge_cache_control {{\n    \
         default \"{ASSET_CACHE_CONTROL}\";\n    \
         ~\\.html$ \"{HTML_CACHE_CONTROL}\";\n    \
         ~/$ \"{HTML_CACHE_CONTROL}\";\n    \
         \"~{FINGERPRINTED_PATTERN}\" \"{IMMUTABLE_CACHE_CONTROL}\";\n\
         }}\n"
    );
    for (name, value) in page_headers {
        let _ = write!(
            rules,
            "# {name}\nmap $uri {variable} {{\n    default \"\";\n    ~\\.html$ \"{value}\";\n    ~/$ \"{value}\";\n}}\n",
            variable = nginx_variable(name),
        );
    }
    rules
}

/// `$pledge_content_security_policy` for `Content-Security-Policy`.
pub fn nginx_variable(header: &str) -> String {
    format!("$pledge_{}", header.to_ascii_lowercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_gets_the_headers_of_its_own_rule_and_the_catch_all() {
        let rules = "/*\n  X-Content-Type-Options: nosniff\n/donate/\n  Cache-Control: public\n  Content-Security-Policy: default-src 'self'\n/theme.css\n  Cache-Control: public\n";
        assert_eq!(
            headers_for(rules, "/donate/"),
            [
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "public"),
                ("Content-Security-Policy", "default-src 'self'")
            ]
        );
        assert_eq!(
            headers_for(rules, "/theme.css"),
            [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "public")]
        );
    }

    #[test]
    fn a_splat_may_stand_inside_a_pattern() {
        let rules = "/*/\n  X-Page: folder\n/*.html\n  X-Page: file\n";
        assert_eq!(headers_for(rules, "/blog/post/"), [("X-Page", "folder")]);
        assert_eq!(headers_for(rules, "/404.html"), [("X-Page", "file")]);
        assert!(headers_for(rules, "/").is_empty(), "the splat's two ends must not share a character");
        assert!(headers_for(rules, "/theme.css").is_empty());
    }

    #[test]
    fn the_nginx_map_gives_pages_and_assets_the_policies_of_headers() {
        let rules = nginx_rules(&[]);
        assert!(rules.contains(&format!("default \"{ASSET_CACHE_CONTROL}\";")), "{rules}");
        assert!(rules.contains(&format!("~\\.html$ \"{HTML_CACHE_CONTROL}\";")), "{rules}");
        assert!(rules.contains(&format!("~/$ \"{HTML_CACHE_CONTROL}\";")), "{rules}");
        assert_eq!(cache_policy("ar/donate/index.html"), HTML_CACHE_CONTROL);
        assert_eq!(cache_policy("ar/donate/"), HTML_CACHE_CONTROL);
        assert_eq!(cache_policy("theme.css"), ASSET_CACHE_CONTROL);
        assert!(rules.contains(&format!("\"~{FINGERPRINTED_PATTERN}\" \"{IMMUTABLE_CACHE_CONTROL}\";")), "{rules}");
        assert_eq!(cache_policy("theme.0123456789abcdef.css"), IMMUTABLE_CACHE_CONTROL);
        assert_eq!(cache_policy("fonts/a.0123456789abcdef.woff2"), IMMUTABLE_CACHE_CONTROL);
    }

    fn config(extra: &str) -> SiteConfig {
        toml::from_str(&format!("base_url = \"https://example.org\"\n[extra]\n{extra}")).unwrap()
    }

    #[test]
    fn pages_allow_the_api_and_payment_pages_and_nothing_inline() {
        let headers = page_headers(&config(
            "content_security_policy = true\napi_url = \"https://api.example.org/v\"\nform_action_origins = [\"https://checkout.stripe.com/\", \"bad; x\"]",
        ));
        let policy = &headers.iter().find(|(name, _)| *name == "Content-Security-Policy").unwrap().1;
        assert!(policy.contains("connect-src 'self' https://api.example.org;"), "{policy}");
        assert!(policy.contains("form-action 'self' https://api.example.org https://checkout.stripe.com;"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe-inline"), "{policy}");
        let same_origin = page_headers(&config("content_security_policy = true\napi_url = \"\""));
        assert!(same_origin[0].1.contains("connect-src 'self';"), "{}", same_origin[0].1);
    }

    #[test]
    fn a_zola_site_gets_no_policy_unless_it_asks_and_its_own_when_it_gives_one() {
        assert_eq!(content_security_policy(&config("")), None, "no campaigns, no strict policy");
        let own = config("content_security_policy = \"default-src 'self' 'unsafe-inline'\"");
        assert_eq!(content_security_policy(&own).as_deref(), Some("default-src 'self' 'unsafe-inline'"));
        assert_eq!(content_security_policy(&config("content_security_policy = false")), None);
        assert!(page_headers(&config("")).iter().any(|(name, _)| *name == "Strict-Transport-Security"));
    }

    #[test]
    fn nginx_gives_the_page_headers_to_pages_only() {
        let rules = nginx_rules(&[("Referrer-Policy", "strict-origin-when-cross-origin".into())]);
        assert!(rules.contains("map $uri $pledge_referrer_policy {\n    default \"\";\n    ~\\.html$ \"strict-origin-when-cross-origin\";"), "{rules}");
    }
}
