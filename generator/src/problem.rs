//! Content problems that name a file and a line, collected so a build fails once with all of them.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the site's sources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; `None` when the problem concerns the whole file.
    pub line: Option<usize>,
    pub message: String,
    /// The text of that line, shown under the message so the editor sees what is wrong without
    /// opening the file; filled in by [`Problems::with_excerpts`] once the build has failed.
    pub excerpt: Option<String>,
    /// For a problem in a template: the content files whose render met it, so the same broken
    /// line is reported once for every page that uses it.
    pub rendering: Vec<PathBuf>,
}

impl Problem {
    pub fn at(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Self { file: file.into(), line: Some(line), message: message.into(), excerpt: None, rendering: Vec::new() }
    }

    pub fn in_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { file: file.into(), line: None, message: message.into(), excerpt: None, rendering: Vec::new() }
    }

    /// The same problem, met while rendering `content`.
    pub fn rendering(mut self, content: impl Into<PathBuf>) -> Self {
        self.rendering.push(content.into());
        self
    }
}

/// Excerpts longer than this are cut, so a minified line does not flood the terminal.
const EXCERPT_CHARS: usize = 160;

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        match self.rendering.as_slice() {
            [] => {}
            [one] => write!(f, " (rendering {})", one.display())?,
            [first, others @ ..] => write!(
                f,
                " (rendering {} and {} other file{})",
                first.display(),
                others.len(),
                if others.len() == 1 { "" } else { "s" }
            )?,
        }
        if let (Some(line), Some(excerpt)) = (self.line, &self.excerpt) {
            let cut: String = excerpt.chars().take(EXCERPT_CHARS).collect();
            let ellipsis = if cut.len() < excerpt.len() { "…" } else { "" };
            write!(f, "\n    {line:>5} | {cut}{ellipsis}")?;
        }
        Ok(())
    }
}

/// Every problem found, sorted by file and line so the output is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Sorted, with the problems that differ only in the content being rendered made one.
    pub fn sorted(problems: Vec<Problem>) -> Self {
        let mut merged: BTreeMap<(PathBuf, Option<usize>, String), Problem> = BTreeMap::new();
        for problem in problems {
            match merged.entry((problem.file.clone(), problem.line, problem.message.clone())) {
                Entry::Vacant(entry) => {
                    entry.insert(problem);
                }
                Entry::Occupied(mut entry) => {
                    entry.get_mut().rendering.extend(problem.rendering);
                }
            }
        }
        let mut problems: Vec<Problem> = merged.into_values().collect();
        for problem in &mut problems {
            problem.rendering.sort();
            problem.rendering.dedup();
        }
        Self(problems)
    }

    /// Gives every problem with a line the text of that line, reading each file once. A file
    /// that cannot be read (gone, not text) just gets no excerpt.
    pub fn with_excerpts(mut self) -> Self {
        let mut files: HashMap<PathBuf, Option<String>> = HashMap::new();
        for problem in &mut self.0 {
            let Some(line) = problem.line else { continue };
            let text = files.entry(problem.file.clone()).or_insert_with(|| std::fs::read_to_string(&problem.file).ok());
            problem.excerpt = text
                .as_deref()
                .and_then(|text| text.lines().nth(line.saturating_sub(1)))
                .map(|text| text.trim_end().to_owned())
                .filter(|text| !text.trim().is_empty());
        }
        self
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(f, "{count} problem{} in the site's sources:", if count == 1 { "" } else { "s" })?;
        for problem in &self.0 {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

/// The 1-based line of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_shows_the_text_of_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("post.md");
        std::fs::write(&file, "+++\ntitle = \"x\"\ndate = 2024-13-01\n+++\n").unwrap();
        let problems = Problems::sorted(vec![
            Problem::at(&file, 3, "invalid date"),
            Problem::in_file(&file, "whole file"),
            Problem::at(dir.path().join("gone.md"), 1, "missing"),
        ])
        .with_excerpts();
        let shown = problems.to_string();
        assert!(shown.contains("post.md:3: invalid date\n        3 | date = 2024-13-01\n"), "{shown}");
        assert!(shown.contains("post.md: whole file\n"), "{shown}");
        assert!(shown.contains("gone.md:1: missing\n"), "a file that cannot be read gets no excerpt: {shown}");
    }

    #[test]
    fn a_template_problem_met_by_many_pages_is_reported_once() {
        let problems = Problems::sorted(vec![
            Problem::at("templates/page.html", 3, "bad").rendering("content/b.md"),
            Problem::at("templates/page.html", 3, "bad").rendering("content/a.md"),
            Problem::at("templates/page.html", 3, "bad").rendering("content/c.md"),
            Problem::at("templates/page.html", 4, "worse").rendering("content/a.md"),
        ]);
        let shown = problems.to_string();
        assert!(shown.contains("page.html:3: bad (rendering content/a.md and 2 other files)\n"), "{shown}");
        assert!(shown.contains("page.html:4: worse (rendering content/a.md)\n"), "{shown}");
        assert_eq!(problems.0.len(), 2);
    }

    #[test]
    fn long_lines_are_cut() {
        let problem = Problem { excerpt: Some("é".repeat(500)), ..Problem::at("a.md", 1, "m") };
        let shown = problem.to_string();
        assert!(shown.ends_with(&format!("{}…", "é".repeat(EXCERPT_CHARS))), "{shown}");
    }
}
