//! Sass to CSS, as Zola does it: every `.scss` and `.sass` file under a `sass/` folder whose name
//! does not start with `_` becomes a `.css` file at the same relative path in the output.
//!
//! Which folders to compile is the caller's decision (Zola always compiles a theme's `sass/`, and
//! the site's only with `compile_sass = true`); this module only reads them and compiles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::problem::Problem;

/// One stylesheet to compile: where it is, which `sass/` folder it belongs to, and where its CSS
/// goes (`/`-separated, relative to the output).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    source: PathBuf,
    root: PathBuf,
    output: String,
}

/// Compiles every entry stylesheet of `dirs` to compressed CSS, in parallel.
///
/// `dirs` are in order of precedence, the site's `sass/` before the theme's: when two folders hold
/// a stylesheet for the same output path, the first folder's wins. Folders that do not exist are
/// skipped. Each file resolves `@import`/`@use` relative to itself and to its own `sass/` folder.
///
/// Returns the CSS files sorted by output path (e.g. `("css/site.css", bytes)`), or every problem
/// found: a syntax error names the file it is in (a partial, if the mistake is there) and its line;
/// `a.scss` beside `a.sass` is refused, as Zola does, since both would become `a.css`.
pub fn compile_all(dirs: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let mut in_this_dir: BTreeMap<String, Entry> = BTreeMap::new();
        for entry in entries_of(dir, &mut problems) {
            if let Some(twin) = in_this_dir.get(&entry.output) {
                problems.push(Problem::in_file(
                    &entry.source,
                    format!("{} has the same name, and both would become {}", twin.source.display(), entry.output),
                ));
                continue;
            }
            in_this_dir.insert(entry.output.clone(), entry);
        }
        for (output, entry) in in_this_dir {
            entries.entry(output).or_insert(entry);
        }
    }

    let compiled: Vec<Result<(String, Vec<u8>), Problem>> = entries
        .into_values()
        .collect::<Vec<_>>()
        .par_iter()
        .map(|entry| compile_one(entry).map(|css| (entry.output.clone(), css.into_bytes())))
        .collect();
    let mut files = Vec::with_capacity(compiled.len());
    for result in compiled {
        match result {
            Ok(file) => files.push(file),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    } else {
        problems.sort();
        Err(problems)
    }
}

/// The entry stylesheets under `dir`, in a stable order. Partials (`_name.scss`) are left out:
/// they exist to be imported.
fn entries_of(dir: &Path, problems: &mut Vec<Problem>) -> Vec<Entry> {
    let mut entries = Vec::new();
    for item in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                problems.push(Problem::in_file(path, format!("cannot read: {e}")));
                continue;
            }
        };
        let path = item.path();
        let is_stylesheet = matches!(path.extension().and_then(|e| e.to_str()), Some("scss" | "sass"));
        let name = item.file_name().to_string_lossy();
        if !item.file_type().is_file() || !is_stylesheet || name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let Ok(relative) = path.strip_prefix(dir) else { continue };
        let output = relative
            .with_extension("css")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        entries.push(Entry { source: path.to_path_buf(), root: dir.to_path_buf(), output });
    }
    entries
}

fn compile_one(entry: &Entry) -> Result<String, Problem> {
    let logger = TracingLogger;
    // Compressed because the output goes to a CDN as it is; grass picks the indented syntax
    // for `.sass` from the extension.
    let options = grass_compiler::Options::default()
        .style(grass_compiler::OutputStyle::Compressed)
        .load_path(&entry.root)
        .logger(&logger);
    grass_compiler::from_path(&entry.source, &options).map_err(|error| problem_from(&entry.source, *error))
}

fn problem_from(source: &Path, error: grass_compiler::Error) -> Problem {
    match error.kind() {
        grass_compiler::ErrorKind::ParseError { message, loc, .. } => {
            Problem::at(PathBuf::from(loc.file.name()), loc.begin.line + 1, format!("Sass: {message}"))
        }
        grass_compiler::ErrorKind::IoError(e) => Problem::in_file(source, format!("Sass: cannot read: {e}")),
        grass_compiler::ErrorKind::FromUtf8Error(message) => Problem::in_file(source, format!("Sass: {message}")),
        // The kinds are non-exhaustive; any later one still names the file.
        #[allow(unreachable_patterns)]
        _ => Problem::in_file(source, "Sass: compilation failed"),
    }
}

/// Sends `@warn` and `@debug` to the build's log instead of straight to stderr.
#[derive(Debug)]
struct TracingLogger;

impl grass_compiler::Logger for TracingLogger {
    fn debug(&self, location: grass_compiler::codemap::SpanLoc, message: &str) {
        tracing::debug!(file = location.file.name(), line = location.begin.line + 1, "Sass @debug: {message}");
    }

    fn warn(&self, location: grass_compiler::codemap::SpanLoc, message: &str) {
        tracing::warn!(file = location.file.name(), line = location.begin.line + 1, "Sass @warn: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, relative: &str, text: &str) {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn css_of(files: &[(String, Vec<u8>)], output: &str) -> String {
        let (_, bytes) = files.iter().find(|(path, _)| path == output).unwrap_or_else(|| panic!("no {output}"));
        String::from_utf8(bytes.clone()).unwrap()
    }

    #[test]
    fn a_stylesheet_importing_partials_becomes_css_at_the_same_path() {
        let sass = tempfile::tempdir().unwrap();
        write(sass.path(), "_colours.scss", "$accent: #ff0000;\n");
        write(sass.path(), "css/_layout.scss", ".wide { width: 100%; }\n");
        write(sass.path(), "css/site.scss", "@import \"colours\";\n@import \"layout\";\na { color: $accent; }\n");
        write(sass.path(), "indented.sass", "p\n  margin: 0\n");

        let files = compile_all(&[sass.path().to_path_buf()]).unwrap();

        let outputs: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(outputs, ["css/site.css", "indented.css"]);
        let site = css_of(&files, "css/site.css");
        assert!(site.contains(".wide{width:100%}"), "{site}");
        assert!(site.contains("a{color:red}") || site.contains("a{color:#f00}"), "{site}");
        assert_eq!(css_of(&files, "indented.css").trim(), "p{margin:0}");
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line_it_is_on() {
        let sass = tempfile::tempdir().unwrap();
        write(sass.path(), "_broken.scss", "// fine\n// fine\n.x { color: ; }\n");
        write(sass.path(), "main.scss", "@import \"broken\";\n");
        write(sass.path(), "other.scss", "a {\n  b: c;\n  d: $undefined;\n}\n");

        let problems = compile_all(&[sass.path().to_path_buf()]).unwrap_err();

        let found: Vec<(String, Option<usize>)> =
            problems.iter().map(|p| (p.file.file_name().unwrap().to_string_lossy().into_owned(), p.line)).collect();
        assert!(found.contains(&("_broken.scss".into(), Some(3))), "{problems:?}");
        assert!(found.contains(&("other.scss".into(), Some(3))), "{problems:?}");
        assert!(problems.iter().any(|p| p.message.contains("Undefined variable")), "{problems:?}");
    }

    #[test]
    fn partials_are_not_output() {
        let sass = tempfile::tempdir().unwrap();
        write(sass.path(), "_partial.scss", "a { b: c; }\n");
        write(sass.path(), "_only/_also.sass", "a\n  b: c\n");

        assert_eq!(compile_all(&[sass.path().to_path_buf()]).unwrap(), vec![]);
    }

    #[test]
    fn the_first_folder_wins_an_output_path_and_the_others_still_compile() {
        let site = tempfile::tempdir().unwrap();
        let theme = tempfile::tempdir().unwrap();
        write(site.path(), "style.scss", ".site { a: b; }\n");
        write(theme.path(), "style.scss", ".theme { a: b; }\n");
        write(theme.path(), "theme-only.scss", ".extra { a: b; }\n");

        let files = compile_all(&[site.path().to_path_buf(), theme.path().join("missing"), theme.path().to_path_buf()])
            .unwrap();

        assert!(css_of(&files, "style.css").contains(".site"));
        assert!(css_of(&files, "theme-only.css").contains(".extra"));
    }

    #[test]
    fn scss_and_sass_with_one_name_in_one_folder_are_refused() {
        let sass = tempfile::tempdir().unwrap();
        write(sass.path(), "assets/same.scss", "a { b: c; }\n");
        write(sass.path(), "assets/same.sass", "a\n  b: c\n");

        let problems = compile_all(&[sass.path().to_path_buf()]).unwrap_err();

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("assets/same.css"), "{problems:?}");
    }
}
