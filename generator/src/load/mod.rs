//! Stage 1, load: reads the config, content tree, templates and static files from disk.
//! The only stage besides `write` that touches the filesystem.

pub(crate) mod front_matter;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use campaigns::Campaigns;
use rayon::prelude::*;
use tera::Tera;
use walkdir::WalkDir;

pub use front_matter::{PageFrontMatter, SectionFrontMatter};

use crate::config::SiteConfig;
use crate::problem::Problem;
use crate::render::template_errors::parse_problem;
use crate::{BuildError, SitePaths};

/// Everything read from disk, parsed but not yet related.
pub struct LoadedSite {
    pub paths: SitePaths,
    pub config: SiteConfig,
    pub campaigns: Campaigns,
    pub content: Vec<LoadedContent>,
    pub templates: Tera,
    /// Each template's file, by its name in `templates`, for problems that name a line in it.
    pub template_files: std::sync::Arc<BTreeMap<String, PathBuf>>,
    pub static_files: Vec<StaticFile>,
    /// Files of `content/` that are not Markdown, with `output` their path inside `content/`
    /// (resolve decides where they go).
    pub assets: Vec<StaticFile>,
    /// Files that could not be parsed; resolve reports them with its own findings.
    pub problems: Vec<Problem>,
}

/// One Markdown file of `content/`.
#[derive(Debug, Clone)]
pub struct LoadedContent {
    /// The file as the editor knows it (`content/about.md`), for messages.
    pub file: PathBuf,
    /// Path inside `content/` with `/` separators: `about.md`, `blog/_index.ar.md`.
    pub relative: String,
    pub lang: String,
    pub kind: ContentKind,
    pub body: String,
    /// 1-based line of the file on which the body starts, so body problems name real lines.
    pub body_line: usize,
}

#[derive(Debug, Clone)]
pub enum ContentKind {
    Section(Box<SectionFrontMatter>),
    Page(Box<PageFrontMatter>),
}

/// A file copied to the output unchanged, site files overriding theme files at the same path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFile {
    pub source: PathBuf,
    pub output: String,
}

pub fn load(paths: &SitePaths) -> Result<LoadedSite, BuildError> {
    let (mut config, campaigns) = SiteConfig::load(&paths.config)?;
    let mut problems = Vec::new();
    let ignored = globs(&config.ignored_content, &paths.config)?;
    let (content, assets) = load_content(paths, &config, &ignored, &mut problems)?;
    let theme_dir = config.theme.as_ref().map(|theme| paths.themes.join(theme));
    if let Some(dir) = &theme_dir
        && !dir.is_dir()
    {
        return Err(BuildError::Config(format!(
            "theme `{}` not found at {}",
            config.theme.as_deref().unwrap_or(""),
            dir.display()
        )));
    }
    if let Some(dir) = &theme_dir {
        add_theme_extra(&mut config.extra, &dir.join("theme.toml"))?;
    }
    let template_dirs: Vec<PathBuf> =
        theme_dir.iter().map(|d| d.join("templates")).chain([paths.templates.clone()]).collect();
    let (templates, template_files) = load_templates(&template_dirs, &mut problems)?;
    let static_dirs: Vec<PathBuf> =
        theme_dir.iter().map(|d| d.join("static")).chain([paths.static_files.clone()]).collect();
    let ignored_static = globs(&config.ignored_static, &paths.config)?;
    let mut static_files = load_static(&static_dirs)?;
    static_files.retain(|file| !ignored_static.is_match(&file.output));
    Ok(LoadedSite {
        paths: paths.clone(),
        config,
        campaigns,
        content,
        templates,
        template_files: template_files.into(),
        static_files,
        assets,
        problems,
    })
}

/// The theme's `[extra]` under the site's, as Zola merges them: what the site sets wins, tables
/// the two share are merged key by key, and a theme without `theme.toml` adds nothing.
fn add_theme_extra(extra: &mut toml::Table, theme_file: &Path) -> Result<(), BuildError> {
    let text = match std::fs::read_to_string(theme_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BuildError::io(theme_file, e)),
    };
    let mut theme: toml::Table =
        toml::from_str(&text).map_err(|e| BuildError::Config(format!("{}: {e}", theme_file.display())))?;
    if let Some(toml::Value::Table(theme_extra)) = theme.remove("extra") {
        merge_under(extra, theme_extra);
    }
    Ok(())
}

fn merge_under(site: &mut toml::Table, theme: toml::Table) {
    for (key, theme_value) in theme {
        match (site.get_mut(&key), theme_value) {
            (None, value) => {
                site.insert(key, value);
            }
            (Some(toml::Value::Table(site_table)), toml::Value::Table(theme_table)) => {
                merge_under(site_table, theme_table)
            }
            (Some(_), _) => {}
        }
    }
}

/// `ignored_content` / `ignored_static` patterns, matched against paths inside their folder.
fn globs(patterns: &[String], config_file: &Path) -> Result<globset::GlobSet, BuildError> {
    let mut set = globset::GlobSetBuilder::new();
    for pattern in patterns {
        let glob = globset::Glob::new(pattern)
            .map_err(|e| BuildError::Config(format!("{}: ignored pattern `{pattern}`: {e}", config_file.display())))?;
        set.add(glob);
    }
    set.build().map_err(|e| BuildError::Config(format!("{}: {e}", config_file.display())))
}

fn load_content(
    paths: &SitePaths,
    config: &SiteConfig,
    ignored: &globset::GlobSet,
    problems: &mut Vec<Problem>,
) -> Result<(Vec<LoadedContent>, Vec<StaticFile>), BuildError> {
    let (files, others): (Vec<_>, Vec<_>) = files_under(&paths.content)?
        .into_iter()
        .filter(|(_, relative)| !ignored.is_match(relative))
        .partition(|(_, relative)| relative.ends_with(".md"));
    let assets = others.into_iter().map(|(source, output)| StaticFile { source, output }).collect();
    let results: Vec<Result<LoadedContent, Problem>> =
        files.par_iter().map(|(source, relative)| load_one(source, relative, config)).collect();
    let mut content = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(loaded) => content.push(loaded),
            Err(problem) => problems.push(problem),
        }
    }
    Ok((content, assets))
}

/// One Markdown file of `content/` read again (the dev server, after an edit); `None` when
/// `source` is no such file that the site reads: outside `content/`, not Markdown, ignored,
/// or gone.
pub(crate) fn content_file(
    paths: &SitePaths,
    config: &SiteConfig,
    source: &Path,
) -> Result<Option<LoadedContent>, Problem> {
    let Ok(inside) = source.strip_prefix(&paths.content) else { return Ok(None) };
    let relative = inside.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    let ignored =
        globs(&config.ignored_content, &paths.config).map_err(|e| Problem::in_file(&paths.config, e.to_string()))?;
    let hidden = relative.split('/').any(|part| part.starts_with('.'));
    if !relative.ends_with(".md") || hidden || ignored.is_match(&relative) || !source.is_file() {
        return Ok(None);
    }
    load_one(source, &relative, config).map(Some)
}

fn load_one(source: &Path, relative: &str, config: &SiteConfig) -> Result<LoadedContent, Problem> {
    let text = std::fs::read_to_string(source).map_err(|e| Problem::in_file(source, format!("cannot read: {e}")))?;
    let split = front_matter::split(&text).map_err(|e| Problem::at(source, e.line, e.message))?;
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    let stem = file_name.trim_end_matches(".md");
    let lang = match stem.rsplit_once('.') {
        Some((_, code)) if config.is_language(code) => code.to_string(),
        Some((_, code)) => {
            return Err(Problem::in_file(source, format!("language `{code}` is not configured in [languages]")));
        }
        None => config.default_language.clone(),
    };
    let is_section = stem == "_index" || stem.starts_with("_index.");
    let kind = if is_section {
        ContentKind::Section(Box::new(
            front_matter::parse(split.front_matter).map_err(|e| Problem::at(source, e.line, e.message))?,
        ))
    } else {
        ContentKind::Page(Box::new(
            front_matter::parse(split.front_matter).map_err(|e| Problem::at(source, e.line, e.message))?,
        ))
    };
    Ok(LoadedContent {
        file: source.to_path_buf(),
        relative: relative.to_string(),
        lang,
        kind,
        body: split.body.to_string(),
        body_line: split.body_line,
    })
}

/// Templates of the theme, then of the site; a site template replaces the theme's of the same
/// name. Also gives the file each one came from.
fn load_templates(
    dirs: &[PathBuf],
    problems: &mut Vec<Problem>,
) -> Result<(Tera, BTreeMap<String, PathBuf>), BuildError> {
    let mut sources: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for dir in dirs {
        for (source, name) in files_under(dir)? {
            let text = std::fs::read_to_string(&source).map_err(|e| BuildError::io(&source, e))?;
            sources.insert(name, (source, text));
        }
    }
    let mut tera = Tera::default();
    let all = sources.iter().map(|(name, (_, text))| (name.as_str(), text.as_str())).collect::<Vec<_>>();
    if let Err(error) = tera.add_raw_templates(all) {
        // Tera stops at the first bad template; parse each alone to name every broken file.
        // Alone, a template also fails for what it needs of the others (its parent, its macro
        // files), so only its own syntax errors count there ("Failed to parse" is how Tera
        // wraps those); anything else is the error of the whole set.
        let broken: Vec<Problem> = sources
            .iter()
            .filter_map(|(name, (source, text))| {
                let error = Tera::default().add_raw_template(name, text).err()?;
                error.to_string().starts_with("Failed to parse").then(|| parse_problem(&error, source))
            })
            .collect();
        if broken.is_empty() {
            problems
                .push(Problem::in_file(dirs.last().cloned().unwrap_or_default(), crate::render::error_chain(&error)));
        }
        problems.extend(broken);
    }
    let files = sources.into_iter().map(|(name, (source, _))| (name, source)).collect();
    Ok((tera, files))
}

fn load_static(dirs: &[PathBuf]) -> Result<Vec<StaticFile>, BuildError> {
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        for (source, output) in files_under(dir)? {
            files.insert(output, source);
        }
    }
    Ok(files.into_iter().map(|(output, source)| StaticFile { source, output }).collect())
}

/// Files below `dir` in a stable order, with their `/`-separated path relative to `dir`.
/// Hidden files and folders are skipped; a missing folder has no files.
fn files_under(dir: &Path) -> Result<Vec<(PathBuf, String)>, BuildError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    let walker = WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| BuildError::io(dir, e.into()))?;
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            files.push((entry.path().to_path_buf(), relative));
        }
    }
    Ok(files)
}
