//! Where a site's sources and output live.

use std::path::{Path, PathBuf};

/// The folders of one site. Two layouts exist: Pledge's (`site/config.toml`, with `content/` and
/// `themes/` beside `site/`) and Zola's (everything under one root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePaths {
    pub config: PathBuf,
    pub content: PathBuf,
    pub themes: PathBuf,
    pub templates: PathBuf,
    pub static_files: PathBuf,
    pub output: PathBuf,
}

impl SitePaths {
    /// Picks the layout found under `root`: Pledge's if `site/config.toml` exists, else Zola's
    /// (`zola.toml`, or the older `config.toml`).
    pub fn detect(root: &Path) -> Self {
        let site = root.join("site");
        if site.join("config.toml").is_file() {
            return Self {
                config: site.join("config.toml"),
                content: root.join("content"),
                themes: root.join("themes"),
                templates: site.join("templates"),
                static_files: site.join("static"),
                output: site.join("public"),
            };
        }
        let config = ["zola.toml", "config.toml"]
            .map(|name| root.join(name))
            .into_iter()
            .find(|path| path.is_file())
            .unwrap_or_else(|| root.join("zola.toml"));
        Self {
            config,
            content: root.join("content"),
            themes: root.join("themes"),
            templates: root.join("templates"),
            static_files: root.join("static"),
            output: root.join("public"),
        }
    }

    /// The folder of the config file: what site files (`sass/`, `load_data` paths) are relative to.
    pub fn root(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new("."))
    }

    pub fn with_output(mut self, output: PathBuf) -> Self {
        self.output = output;
        self
    }

    /// What the dev server watches: source folders recursively, and the config file's folder
    /// alone (not below it, where `site/public` lives) for the config file itself.
    pub fn watch_targets(&self) -> Vec<WatchTarget> {
        let mut targets: Vec<WatchTarget> = [&self.content, &self.themes, &self.templates, &self.static_files]
            .into_iter()
            .map(|path| WatchTarget { path: path.clone(), recursive: true })
            .collect();
        if let Some(dir) = self.config.parent() {
            targets.push(WatchTarget { path: dir.to_path_buf(), recursive: false });
        }
        targets.retain(|t| t.path.exists());
        targets
    }

    /// True for a changed path that should trigger a rebuild.
    pub fn is_source(&self, changed: &Path) -> bool {
        let under = |dir: &Path| changed.starts_with(dir);
        !under(&self.output)
            && (under(&self.content)
                || under(&self.themes)
                || under(&self.templates)
                || under(&self.static_files)
                || changed.file_name() == self.config.file_name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    pub path: PathBuf,
    pub recursive: bool,
}
