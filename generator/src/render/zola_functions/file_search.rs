//! Zola's "file searching logic" for functions that take a `path`: where `load_data`,
//! `get_hash` and `get_image_metadata` look for a file, without ever leaving the site.

use std::path::{Component, Path, PathBuf};

/// The folders a template's `path` may name a file in.
#[derive(Debug, Clone)]
pub(crate) struct SiteFiles {
    root: PathBuf,
    content: PathBuf,
    statics: Vec<PathBuf>,
}

impl SiteFiles {
    /// `statics` in order of precedence: the site's static folder, then the theme's.
    pub(crate) fn new(root: &Path, content: &Path, statics: &[PathBuf]) -> Self {
        Self { root: root.to_path_buf(), content: content.to_path_buf(), statics: statics.to_vec() }
    }

    /// The file `requested` names, or `None` when it is in none of the places searched.
    ///
    /// As in Zola, `@/x` means `content/x` and a leading `/` is ignored; then the first of these
    /// that exists wins: the site root, the site's static folder, the content folder (also with a
    /// leading `content/` removed, for layouts where the content folder is not under the root),
    /// then the theme's static folders. Zola also searches the output folder; Pledge holds the
    /// output in memory until the end, so it does not.
    ///
    /// A path that climbs out with `..`, or reaches a file outside its folder through a symlink,
    /// is an error rather than a miss: templates must not read arbitrary files of the machine.
    pub(crate) fn find(&self, requested: &str) -> Result<Option<PathBuf>, String> {
        let relative = match requested.strip_prefix("@/") {
            Some(rest) => Path::new("content").join(rest.trim_start_matches('/')),
            None => PathBuf::from(requested.trim_start_matches('/')),
        };
        let relative = normalized(&relative).ok_or_else(|| format!("`{requested}` leads outside the site"))?;
        if relative.as_os_str().is_empty() {
            return Err(format!("`{requested}` names no file"));
        }

        let mut candidates: Vec<(&Path, PathBuf)> = vec![(&self.root, relative.clone())];
        if let Some(site_static) = self.statics.first() {
            candidates.push((site_static, relative.clone()));
        }
        candidates.push((&self.content, relative.clone()));
        if let Ok(inside_content) = relative.strip_prefix("content") {
            candidates.push((&self.content, inside_content.to_path_buf()));
        }
        for theme_static in self.statics.iter().skip(1) {
            candidates.push((theme_static, relative.clone()));
        }

        for (base, relative) in candidates {
            let candidate = base.join(&relative);
            if !candidate.is_file() {
                continue;
            }
            let inside = match (candidate.canonicalize(), base.canonicalize()) {
                (Ok(file), Ok(base)) => file.starts_with(base),
                _ => false,
            };
            if !inside {
                return Err(format!("`{requested}` leads outside the site"));
            }
            return Ok(Some(candidate));
        }
        Ok(None)
    }
}

/// `relative` without `.` and with each `..` applied, or `None` if it climbs above its start or is
/// not relative at all.
fn normalized(relative: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Site {
        dir: tempfile::TempDir,
        files: SiteFiles,
    }

    fn site(files: &[&str]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
        let root = dir.path().join("site");
        std::fs::create_dir_all(&root).unwrap();
        let statics = [root.join("static"), dir.path().join("themes/t/static")];
        let files = SiteFiles::new(&root, &dir.path().join("content"), &statics);
        Site { dir, files }
    }

    fn found(site: &Site, requested: &str) -> Option<String> {
        site.files.find(requested).unwrap().map(|p| p.strip_prefix(site.dir.path()).unwrap().display().to_string())
    }

    #[test]
    fn the_search_order_is_root_then_static_then_content_then_theme_static() {
        let s = site(&["site/a", "site/static/a", "content/a", "themes/t/static/a", "site/static/b", "content/b"]);
        assert_eq!(found(&s, "a").as_deref(), Some("site/a"));
        assert_eq!(found(&s, "/b").as_deref(), Some("site/static/b"));

        let s = site(&["content/c", "themes/t/static/c", "themes/t/static/d"]);
        assert_eq!(found(&s, "c").as_deref(), Some("content/c"));
        assert_eq!(found(&s, "d").as_deref(), Some("themes/t/static/d"));
        assert_eq!(found(&s, "missing"), None);
    }

    #[test]
    fn at_slash_and_content_slash_both_name_the_content_folder() {
        let s = site(&["content/blog/data.toml"]);
        assert_eq!(found(&s, "@/blog/data.toml").as_deref(), Some("content/blog/data.toml"));
        assert_eq!(found(&s, "content/blog/data.toml").as_deref(), Some("content/blog/data.toml"));
        assert_eq!(found(&s, "/content/blog/./data.toml").as_deref(), Some("content/blog/data.toml"));
    }

    #[test]
    fn paths_that_climb_out_of_the_site_are_refused() {
        let s = site(&["secret", "site/static/x"]);
        for bad in ["../secret", "static/../../secret", "@/../../secret", "a/../../secret"] {
            let error = s.files.find(bad).unwrap_err();
            assert!(error.contains("outside the site"), "{bad}: {error}");
        }
        // Climbing that stays inside is fine, as in Zola.
        assert_eq!(found(&s, "static/../static/x").as_deref(), Some("site/static/x"));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_file_outside_the_site_is_refused() {
        let s = site(&["secret"]);
        std::os::unix::fs::symlink(s.dir.path().join("secret"), s.dir.path().join("site/link")).unwrap();
        assert!(s.files.find("link").unwrap_err().contains("outside the site"));
    }
}
