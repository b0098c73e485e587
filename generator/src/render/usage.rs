//! What a template can read, found from its syntax tree, so the render stage can leave out of
//! a context what no template would look at. Zola puts every page of a taxonomy term into the
//! context of each of the term's pagers, which makes big sites quadratic; here the pages are
//! only put there when a template might read them.

use std::collections::HashSet;

use tera::Tera;
use tera::ast::{Expr, ExprVal, Node};

/// Whether rendering `template` may read the `pages` of `variable`: an identifier reaches a
/// `pages` field (other than `paginator.pages`), or `variable` itself is used whole (given to
/// a filter, function, macro, test or `set`), which could read anything in it. Includes,
/// parents and imported macros count as part of the template.
pub fn may_read_pages(tera: &Tera, template: &str, variable: &str) -> bool {
    let mut seen = HashSet::new();
    let mut finder = Finder { variable, found: false };
    finder.template(tera, template, &mut seen);
    finder.found
}

struct Finder<'a> {
    variable: &'a str,
    found: bool,
}

impl Finder<'_> {
    fn template(&mut self, tera: &Tera, name: &str, seen: &mut HashSet<String>) {
        if self.found || !seen.insert(name.to_string()) {
            return;
        }
        let Ok(template) = tera.get_template(name) else { return };
        let mut linked: Vec<String> = template.parents.clone();
        linked.extend(template.imported_macro_files.iter().map(|(file, _)| file.clone()));
        self.nodes(&template.ast, &mut linked);
        for macro_definition in template.macros.values() {
            self.nodes(&macro_definition.body, &mut linked);
        }
        for other in linked {
            self.template(tera, &other, seen);
        }
    }

    fn nodes(&mut self, nodes: &[Node], linked: &mut Vec<String>) {
        for node in nodes {
            match node {
                Node::VariableBlock(_, expr) => self.expr(expr, false),
                Node::MacroDefinition(_, definition, _) => {
                    definition.args.values().flatten().for_each(|e| self.expr(e, false));
                    self.nodes(&definition.body, linked);
                }
                Node::Include(_, names, _) => linked.extend(names.iter().cloned()),
                Node::Set(_, set) => self.expr(&set.value, false),
                Node::FilterSection(_, section, _) => {
                    section.filter.args.values().for_each(|e| self.expr(e, false));
                    self.nodes(&section.body, linked);
                }
                Node::Block(_, block, _) => self.nodes(&block.body, linked),
                Node::Forloop(_, forloop, _) => {
                    // Looping over the variable only reads its items, through the loop value.
                    self.expr(&forloop.container, forloop.container.filters.is_empty());
                    self.nodes(&forloop.body, linked);
                    if let Some(empty) = &forloop.empty_body {
                        self.nodes(empty, linked);
                    }
                }
                Node::If(branches, _) => {
                    for (_, condition, body) in &branches.conditions {
                        self.expr(condition, true);
                        self.nodes(body, linked);
                    }
                    if let Some((_, body)) = &branches.otherwise {
                        self.nodes(body, linked);
                    }
                }
                Node::Super
                | Node::Text(_)
                | Node::Extends(..)
                | Node::ImportMacro(..)
                | Node::Raw(..)
                | Node::Break(_)
                | Node::Continue(_)
                | Node::Comment(..) => {}
            }
        }
    }

    /// `whole_allowed`: the expression may name the variable whole without reading inside it
    /// (a loop container, an `if` condition).
    fn expr(&mut self, expr: &Expr, whole_allowed: bool) {
        self.value(&expr.val, whole_allowed && expr.filters.is_empty());
        for filter in &expr.filters {
            filter.args.values().for_each(|e| self.expr(e, false));
        }
    }

    fn value(&mut self, value: &ExprVal, whole_allowed: bool) {
        match value {
            ExprVal::Ident(ident) => self.ident(ident, whole_allowed),
            ExprVal::Math(math) => {
                self.expr(&math.lhs, false);
                self.expr(&math.rhs, false);
            }
            ExprVal::Logic(logic) => {
                self.expr(&logic.lhs, whole_allowed);
                self.expr(&logic.rhs, whole_allowed);
            }
            ExprVal::Test(test) => {
                self.ident(&test.ident, test.name == "defined" || test.name == "undefined");
                test.args.iter().for_each(|e| self.expr(e, false));
            }
            ExprVal::MacroCall(call) => call.args.values().for_each(|e| self.expr(e, false)),
            ExprVal::FunctionCall(call) => call.args.values().for_each(|e| self.expr(e, false)),
            ExprVal::Array(items) => items.iter().for_each(|e| self.expr(e, false)),
            ExprVal::StringConcat(concat) => concat.values.iter().for_each(|v| self.value(v, false)),
            ExprVal::In(within) => {
                self.expr(&within.lhs, false);
                self.expr(&within.rhs, false);
            }
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
        }
    }

    fn ident(&mut self, ident: &str, whole_allowed: bool) {
        let mut segments = ident.split(['.', '[', ']', '"', '\'']).filter(|s| !s.is_empty());
        let root = segments.next().unwrap_or("");
        let reads_pages = root != "paginator" && segments.any(|s| s == "pages");
        // A subscript may name any field, `pages` included.
        let whole = root == self.variable && (ident.contains('[') || (!ident.contains('.') && !whole_allowed));
        self.found |= reads_pages || whole;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tera(templates: &[(&str, &str)]) -> Tera {
        let mut tera = Tera::default();
        tera.add_raw_templates(templates.to_vec()).unwrap();
        tera
    }

    #[test]
    fn fields_other_than_pages_do_not_count() {
        let t = tera(&[(
            "t.html",
            "{{ term.name }} {{ term.page_count }}{% for p in paginator.pages %}{{ p.title }}{% endfor %}\
             {% if term %}x{% endif %}",
        )]);
        assert!(!may_read_pages(&t, "t.html", "term"));
    }

    #[test]
    fn pages_read_anywhere_in_the_chain_count() {
        let t = tera(&[
            ("base.html", "{% block b %}{% endblock b %}{% include \"inc.html\" %}"),
            ("inc.html", "{% for p in term.pages %}{{ p.title }}{% endfor %}"),
            ("t.html", "{% extends \"base.html\" %}{% block b %}{{ term.name }}{% endblock b %}"),
        ]);
        assert!(may_read_pages(&t, "t.html", "term"));
        let loop_items = tera(&[("l.html", "{% for t in terms %}{{ t.pages | length }}{% endfor %}")]);
        assert!(may_read_pages(&loop_items, "l.html", "terms"));
    }

    #[test]
    fn the_variable_used_whole_counts() {
        for source in [
            "{{ term | json_encode }}",
            "{% set t = term %}{{ t.name }}",
            "{% import \"m.html\" as m %}{{ m::show(x=term) }}",
            "{{ term[\"pages\"] }}",
        ] {
            let t = tera(&[("m.html", "{% macro show(x) %}{% endmacro show %}"), ("t.html", source)]);
            assert!(may_read_pages(&t, "t.html", "term"), "{source}");
        }
    }
}
