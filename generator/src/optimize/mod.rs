//! Stage 3½, optimise: what a CDN should serve. Pages, style sheets and scripts are minified
//! (see `minify`) and assets get
//! content-hashed names (`site.css` → `site.1a2b3c4d5e6f7a8b.css`) with every reference from the
//! pages and style sheets rewritten to them, so a CDN and a browser may keep them forever.
//! The unhashed files stay too, with the short asset TTL, for whatever the rewriting cannot see
//! (a URL built in JavaScript, a link from another site, `/favicon.ico`).
//! Pure but for reading the static files it hashes or rewrites.

mod css;
pub mod fingerprint;
mod minify;

use std::collections::BTreeMap;
use std::fs;

use rayon::prelude::*;

use crate::BuildError;
use crate::render::{OutputFile, RenderedSite};
use fingerprint::References;

#[derive(Debug, Clone, Copy, Default)]
pub struct Optimize {
    pub minify: bool,
    pub fingerprint: bool,
}

pub fn optimize(mut site: RenderedSite, base_url: &str, options: Optimize) -> Result<RenderedSite, BuildError> {
    if !options.minify && !options.fingerprint {
        return Ok(site);
    }
    read_style_sheets(&mut site)?;
    if options.minify {
        // Before hashing, so a script's name is the hash of what is served.
        minify_scripts(&mut site)?;
    }

    // Style sheets name images and fonts, and pages name all three: each kind is hashed after
    // the references inside it are rewritten, so a changed image gives its sheet a new name too.
    let mut hashes =
        if options.fingerprint { hash_files(&site, |path| !path.ends_with(".css"))? } else { BTreeMap::new() };
    let references = References::new(base_url, &hashes);
    site.files.par_iter_mut().filter(|(path, _)| path.ends_with(".css")).for_each(|(path, file)| {
        if let OutputFile::Bytes(bytes) = file {
            let text = String::from_utf8_lossy(bytes);
            let from = fingerprint::folder_of(path);
            let rewrite = |url: &str| options.fingerprint.then(|| references.rewrite(url, from)).flatten();
            if options.minify || (options.fingerprint && text.contains("url(")) {
                match css::style_sheet(&text, options.minify, rewrite) {
                    Ok(processed) => *bytes = processed.into_bytes(),
                    Err(error) => tracing::warn!(%path, %error, "style sheet left as written"),
                }
            }
        }
    });
    if options.fingerprint {
        hashes.extend(hash_files(&site, |path| path.ends_with(".css"))?);
    }

    let references = References::new(base_url, &hashes);
    site.files.par_iter_mut().filter(|(path, _)| path.ends_with(".html")).for_each(|(path, file)| {
        if let OutputFile::Bytes(bytes) = file {
            if options.fingerprint {
                match references.html(bytes, fingerprint::folder_of(path)) {
                    Ok(rewritten) => *bytes = rewritten,
                    Err(error) => tracing::warn!(%path, %error, "references left as written"),
                }
            }
            if options.minify {
                *bytes = minify::html(bytes);
            }
        }
    });

    for (path, hash) in &hashes {
        let file = site.files[path].clone();
        site.files.insert(fingerprint::with_hash(path, hash), file);
    }
    Ok(site)
}

/// Style sheets are rewritten and minified, so they are held in memory from here on.
fn read_style_sheets(site: &mut RenderedSite) -> Result<(), BuildError> {
    site.files.par_iter_mut().filter(|(path, _)| path.ends_with(".css")).try_for_each(|(_, file)| {
        if let OutputFile::Copy(source) = file {
            *file = OutputFile::Bytes(fs::read(&*source).map_err(|e| BuildError::io(source, e))?);
        }
        Ok(())
    })
}

/// Scripts are read and minified; one oxc cannot parse is served as written, and said so.
fn minify_scripts(site: &mut RenderedSite) -> Result<(), BuildError> {
    let is_script = |path: &str| path.ends_with(".js") || path.ends_with(".mjs");
    site.files.par_iter_mut().filter(|(path, _)| is_script(path)).try_for_each(|(path, file)| {
        let source = match file {
            OutputFile::Copy(source) => fs::read(&*source).map_err(|e| BuildError::io(source, e))?,
            OutputFile::Bytes(bytes) => std::mem::take(bytes),
        };
        let minified = std::str::from_utf8(&source).ok().and_then(|text| minify::script(text, path.ends_with(".mjs")));
        if minified.is_none() {
            tracing::warn!(%path, "script left as written: it does not parse as JavaScript");
        }
        *file = OutputFile::Bytes(minified.map_or(source, String::into_bytes));
        Ok(())
    })
}

/// The content hash of every file `fingerprint::is_fingerprintable` takes that `select` picks.
fn hash_files(
    site: &RenderedSite,
    select: impl Fn(&str) -> bool + Sync,
) -> Result<BTreeMap<String, String>, BuildError> {
    site.files
        .par_iter()
        .filter(|(path, _)| fingerprint::is_fingerprintable(path) && select(path))
        .map(|(path, file)| {
            let hash = match file {
                OutputFile::Bytes(bytes) => fingerprint::content_hash(bytes),
                OutputFile::Copy(source) => {
                    fingerprint::content_hash(&fs::read(source).map_err(|e| BuildError::io(source, e))?)
                }
            };
            Ok((path.clone(), hash))
        })
        .collect()
}
