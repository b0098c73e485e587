//! Tera's errors say what went wrong but, for a render, not where: its syntax tree keeps no
//! positions. This finds the template and line an error came from, so the editor is sent to the
//! line to fix and not only to the page that happened to use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tera::Tera;

use crate::problem::{Problem, line_of};

/// The problem for `error`, raised while rendering `template` for `content` (none for pages
/// no content file gives, like the 404 page). It names the template's file and, when the names
/// the error quotes can be found there, its line; a built-in template (no file) leaves it at
/// `content`.
pub fn render_problem(
    error: &tera::Error,
    template: &str,
    tera: &Tera,
    files: &BTreeMap<String, PathBuf>,
    content: Option<&Path>,
) -> Problem {
    let message = format!("template {template}: {}", super::error_chain(error));
    match (locate(error, template, tera, files), content) {
        (Some((file, Some(line))), _) => rendering(Problem::at(file, line, message), content),
        (Some((file, None)), _) => rendering(Problem::in_file(file, message), content),
        (None, Some(content)) => Problem::in_file(content, message),
        (None, None) => Problem::in_file(template, message),
    }
}

/// The file of the template `error` happened in, and its line when the names the error quotes
/// can be found there; `None` for a built-in template.
pub fn locate(
    error: &tera::Error,
    template: &str,
    tera: &Tera,
    files: &BTreeMap<String, PathBuf>,
) -> Option<(PathBuf, Option<usize>)> {
    let messages = chain(error);
    let mut candidates: Vec<&str> = innermost_template(&messages).into_iter().collect();
    candidates.push(template);
    if let Ok(top) = tera.get_template(template) {
        candidates.extend(top.parents.iter().rev().map(String::as_str));
    }
    let quoted = quoted_names(&messages, tera);
    for name in &candidates {
        let Some(file) = files.get(*name) else { continue };
        let Ok(source) = std::fs::read_to_string(file) else { continue };
        if let Some(line) = quoted.iter().find_map(|quoted| line_in_tags(&source, quoted)) {
            return Some((file.clone(), Some(line)));
        }
    }
    candidates.iter().find_map(|name| files.get(*name)).map(|file| (file.clone(), None))
}

fn rendering(problem: Problem, content: Option<&Path>) -> Problem {
    match content {
        Some(content) => problem.rendering(content),
        None => problem,
    }
}

/// The problem for a template that does not parse, at the line Tera's parser points to.
pub fn parse_problem(error: &tera::Error, file: &Path) -> Problem {
    let messages = chain(error);
    let position = messages.iter().find_map(|message| {
        let rest = &message[message.find("--> ")? + 4..];
        let (line, rest) = rest.split_once(':')?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.trim().parse::<usize>().ok()?, column))
    });
    let Some((line, column)) = position else { return Problem::in_file(file, super::error_chain(error)) };
    // The parser's own drawing of the line is dropped: the problem shows the line under it.
    let expected = messages
        .iter()
        .flat_map(|message| message.lines())
        .find_map(|text| text.trim_start().strip_prefix("= "))
        .unwrap_or("syntax error");
    Problem::at(file, line, format!("{} (column {column}): {expected}", messages[0]))
}

fn chain(error: &tera::Error) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        messages.push(cause.to_string());
        source = cause.source();
    }
    messages
}

/// The template the error happened in, when Tera names one below the template it started from:
/// an included template (`while rendering 'x'`) or a parent's block (`error happened in 'x'`).
fn innermost_template(messages: &[String]) -> Option<&str> {
    messages.iter().rev().find_map(|message| {
        ["while rendering '", "error happened in '"]
            .iter()
            .find_map(|marker| message.rfind(marker).map(|at| &message[at + marker.len()..]))
            .and_then(|rest| rest.split('\'').next())
    })
}

/// The names an error quotes (`` `page.extra.x` ``, `'get_page'`), the innermost cause's first:
/// those are the variables, filters and functions written in the template.
fn quoted_names(messages: &[String], tera: &Tera) -> Vec<String> {
    let mut names = Vec::new();
    for message in messages.iter().rev() {
        for quote in ['`', '\''] {
            let parts: Vec<&str> = message.split(quote).collect();
            for name in parts.iter().skip(1).step_by(2).take(parts.len().saturating_sub(1) / 2) {
                let name = name.rsplit("::").next().unwrap_or(name);
                let is_template = tera.get_template(name).is_ok();
                if is_name(name) && !is_template && !names.iter().any(|known| known == name) {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// A variable path or an identifier: what can be found in a template's tags.
fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '"'))
}

/// The 1-based line where `name` first appears as a whole word inside `{{ }}` or `{% %}`.
fn line_in_tags(source: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(open) = source[from..].find('{').map(|at| from + at) {
        let close = match source.as_bytes().get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                from = open + 1;
                continue;
            }
        };
        let end = source[open + 2..].find(close).map_or(source.len(), |at| open + 2 + at);
        let tag = &source[open..end];
        if let Some(at) = word_in(tag, name) {
            return Some(line_of(source, open + at));
        }
        from = end;
    }
    None
}

fn word_in(text: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `page.html` of `templates` (written to disk) and returns the problem it gives.
    fn problem(templates: &[(&str, &str)]) -> (tempfile::TempDir, Problem) {
        let dir = tempfile::tempdir().unwrap();
        let mut tera = Tera::default();
        let mut files = BTreeMap::new();
        for (name, text) in templates {
            let file = dir.path().join(name);
            std::fs::write(&file, text).unwrap();
            files.insert(name.to_string(), file);
        }
        tera.add_raw_templates(templates.to_vec()).unwrap();
        tera.register_function("fails", |_: &std::collections::HashMap<String, tera::Value>| {
            Err(tera::Error::msg("no such file"))
        });
        tera.register_filter("broken", |_: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
            Err(tera::Error::msg("bad input"))
        });
        let error = tera.render("page.html", &tera::Context::new()).unwrap_err();
        let problem = render_problem(&error, "page.html", &tera, &files, Some(Path::new("content/post.md")));
        (dir, problem)
    }

    fn place(problem: &Problem) -> (String, Option<usize>) {
        (problem.file.file_name().unwrap().to_string_lossy().into_owned(), problem.line)
    }

    #[test]
    fn a_missing_variable_is_found_on_its_line() {
        let (_dir, problem) = problem(&[("page.html", "<h1>\n{{ \"title\" }}\n{{ page.extra.missing }}\n</h1>")]);
        assert_eq!(place(&problem), ("page.html".into(), Some(3)));
        assert!(problem.message.contains("page.extra.missing"), "{}", problem.message);
        assert_eq!(problem.rendering, [PathBuf::from("content/post.md")]);
    }

    #[test]
    fn text_outside_tags_and_longer_names_are_not_taken_for_it() {
        let (_dir, problem) = problem(&[("page.html", "title here\n{{ titles | default(value=1) }}\n{{ title }}")]);
        assert_eq!(place(&problem), ("page.html".into(), Some(3)));
    }

    #[test]
    fn an_error_in_an_included_template_points_into_it() {
        let (_dir, problem) =
            problem(&[("page.html", "a\n{% include \"nav.html\" %}"), ("nav.html", "<nav>\n\n{{ menu.items }}</nav>")]);
        assert_eq!(place(&problem), ("nav.html".into(), Some(3)));
    }

    #[test]
    fn an_error_in_a_parents_block_points_into_the_parent() {
        let (_dir, problem) = problem(&[
            ("base.html", "<html>\n{% block body %}\n{{ fails() }}\n{% endblock %}"),
            ("page.html", "{% extends \"base.html\" %}"),
        ]);
        assert_eq!(place(&problem), ("base.html".into(), Some(3)));
        assert!(problem.message.contains("no such file"), "{}", problem.message);
    }

    #[test]
    fn a_failing_filter_is_found_by_its_name() {
        let (_dir, problem) = problem(&[("page.html", "{% set n = 1 %}\n{{ n }}\n{{ n | broken }}")]);
        assert_eq!(place(&problem), ("page.html".into(), Some(3)), "{}", problem.message);
    }

    #[test]
    fn a_built_in_template_leaves_the_problem_at_the_content_file() {
        let mut tera = Tera::default();
        tera.add_raw_template("page.html", "{{ nothing }}").unwrap();
        let error = tera.render("page.html", &tera::Context::new()).unwrap_err();
        let problem = render_problem(&error, "page.html", &tera, &BTreeMap::new(), Some(Path::new("content/a.md")));
        assert_eq!((problem.file, problem.line), (PathBuf::from("content/a.md"), None));
    }

    #[test]
    fn a_parse_error_is_at_the_line_the_parser_points_to() {
        let error = Tera::default().add_raw_template("page.html", "<p>\n\n{{ page.title | }}\n").unwrap_err();
        let problem = parse_problem(&error, Path::new("templates/page.html"));
        assert_eq!(problem.line, Some(3), "{}", problem.message);
        assert!(problem.message.starts_with("Failed to parse 'page.html' (column "), "{}", problem.message);
        assert!(problem.message.contains("expected"), "{}", problem.message);
        assert!(!problem.message.contains('\n'), "{}", problem.message);
    }
}
