//! Whether a template may show given fields (what an edit changed: `content`, `summary`,
//! `title`…) of a page or section other than its own, found from its syntax tree. After an
//! edit to a body, the dev server then skips the files that only list the page by its title,
//! link and date: its section's pagers, its neighbours, its terms, a home page that fetches
//! every section.
//!
//! Each expression gets a kind: plain data, the render's own page or section, other content
//! (pages, sections, pagers, terms and what is fetched with `get_page` and the like), or
//! unknown. One of the fields read from other or unknown content counts, and so does other or
//! unknown content used whole (printed, given to a filter, function, macro or comparison), since
//! that may reach any field. Names bound with `set` and `for` take the kind of their value, and
//! a context variable's name keeps its context kind too (bindings are not scoped); any other
//! unbound name is unknown. A macro's arguments are plain, since one that is not already counts
//! as used whole at the call; other names in a macro are the render's context, as in Tera.

use std::collections::{BTreeSet, HashMap, HashSet};

use tera::Tera;
use tera::ast::{Expr, ExprVal, FunctionCall, Node};

/// What an edit to a body changes in a page's or section's template value.
pub const BODY_FIELDS: [&str; 6] = ["content", "summary", "toc", "word_count", "reading_time", "backlinks"];

/// Fields of content that hold other content.
const CONTENT_FIELDS: [&str; 4] = ["pages", "lower", "higher", "items"];

/// The functions that return pages, sections or terms.
const CONTENT_FUNCTIONS: [&str; 4] = ["get_page", "get_section", "get_taxonomy", "get_taxonomy_term"];

/// Filters that give back (part of) their input, so its kind, without reading it whole.
const PASSING_FILTERS: [&str; 9] = ["first", "last", "nth", "slice", "reverse", "sort", "unique", "filter", "concat"];

/// Context variables that hold no content (`taxonomy` is its config). Any other is unknown
/// unless named as the render's own or as other content.
const PLAIN_VARIABLES: [&str; 9] = [
    "config",
    "lang",
    "current_path",
    "current_url",
    "taxonomy",
    "feed_url",
    "feed_dates",
    "feed_updated",
    "last_updated",
];
const CONTENT_VARIABLES: [&str; 6] = ["page", "section", "paginator", "term", "terms", "pages"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Plain,
    Own,
    Other,
    Unknown,
}

/// What rendering a template may read of content other than its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OthersRead {
    /// It uses such content whole, or is built in: it may read any field.
    Anything,
    /// The top-level fields (`title`, `extra`…) it may read.
    Fields(BTreeSet<String>),
}

impl OthersRead {
    pub fn any_of(&self, fields: &[&str]) -> bool {
        match self {
            OthersRead::Anything => true,
            OthersRead::Fields(read) => fields.iter().any(|field| read.contains(*field)),
        }
    }
}

/// What rendering `template` may read of content other than `own`, the context variable
/// (`page` or `section`) that holds the render's own page or section. Includes, parents and
/// imported macros count as part of the template; a template the site does not have (a
/// built-in one) may read anything.
pub fn others_read(tera: &Tera, template: &str, own: Option<&str>) -> OthersRead {
    if tera.get_template(template).is_err() {
        return OthersRead::Anything;
    }
    let mut chain = Vec::new();
    collect_chain(tera, template, &mut HashSet::new(), &mut chain);
    let mut finder =
        Finder { own, bound: HashMap::new(), macro_args: HashSet::new(), whole: false, read: BTreeSet::new() };
    // Bindings may be used above where they are made (a block filled in by a child template):
    // walk until the kinds settle, which they do since they only grow.
    loop {
        let before = finder.bound.clone();
        for template in &chain {
            finder.nodes(&template.ast);
            for definition in template.macros.values() {
                finder.macro_body(definition);
            }
        }
        if finder.whole {
            return OthersRead::Anything;
        }
        if finder.bound == before {
            return OthersRead::Fields(finder.read);
        }
    }
}

fn collect_chain<'t>(tera: &'t Tera, name: &str, seen: &mut HashSet<String>, chain: &mut Vec<&'t tera::Template>) {
    if !seen.insert(name.to_string()) {
        return;
    }
    let Ok(template) = tera.get_template(name) else { return };
    chain.push(template);
    let mut linked: Vec<String> = template.parents.clone();
    linked.extend(template.imported_macro_files.iter().map(|(file, _)| file.clone()));
    includes(&template.ast, &mut linked);
    for definition in template.macros.values() {
        includes(&definition.body, &mut linked);
    }
    for other in linked {
        collect_chain(tera, &other, seen, chain);
    }
}

fn includes(nodes: &[Node], found: &mut Vec<String>) {
    for node in nodes {
        match node {
            Node::Include(_, names, _) => found.extend(names.iter().cloned()),
            Node::MacroDefinition(_, definition, _) => includes(&definition.body, found),
            Node::FilterSection(_, section, _) => includes(&section.body, found),
            Node::Block(_, block, _) => includes(&block.body, found),
            Node::Forloop(_, forloop, _) => {
                includes(&forloop.body, found);
                includes(forloop.empty_body.as_deref().unwrap_or_default(), found);
            }
            Node::If(branches, _) => {
                branches.conditions.iter().for_each(|(_, _, body)| includes(body, found));
                includes(branches.otherwise.as_ref().map_or(&[][..], |(_, body)| body), found);
            }
            _ => {}
        }
    }
}

struct Finder<'a> {
    own: Option<&'a str>,
    /// Names bound with `set` or `for`, with the kind of what they were bound to.
    bound: HashMap<String, Kind>,
    /// The arguments of the macro being read, if one is.
    macro_args: HashSet<String>,
    /// Other or unknown content was used whole.
    whole: bool,
    /// The fields read of other or unknown content.
    read: BTreeSet<String>,
}

impl Finder<'_> {
    fn nodes(&mut self, nodes: &[Node]) {
        for node in nodes {
            match node {
                Node::VariableBlock(_, expr) => {
                    let kind = self.expr(expr);
                    self.whole(kind);
                }
                Node::MacroDefinition(_, definition, _) => self.macro_body(definition),
                Node::Set(_, set) => {
                    let kind = self.expr(&set.value);
                    self.bind(&set.key, kind);
                }
                Node::FilterSection(_, section, _) => {
                    section.filter.args.values().for_each(|e| self.whole_expr(e));
                    self.nodes(&section.body);
                }
                Node::Block(_, block, _) => self.nodes(&block.body),
                Node::Forloop(_, forloop, _) => {
                    let kind = self.expr(&forloop.container);
                    match &forloop.key {
                        Some(key) => {
                            // The values of a map of content (`for k, v in page`) may be anything.
                            self.bind(key, Kind::Plain);
                            self.bind(&forloop.value, if kind == Kind::Plain { Kind::Plain } else { Kind::Unknown });
                        }
                        None => self.bind(&forloop.value, kind),
                    }
                    self.nodes(&forloop.body);
                    if let Some(empty) = &forloop.empty_body {
                        self.nodes(empty);
                    }
                }
                Node::If(branches, _) => {
                    for (_, condition, body) in &branches.conditions {
                        self.condition(condition);
                        self.nodes(body);
                    }
                    if let Some((_, body)) = &branches.otherwise {
                        self.nodes(body);
                    }
                }
                Node::Include(..)
                | Node::Super
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

    /// A macro's body. Its arguments are plain (one that is not already counts as used whole
    /// at the call); other names are looked up in the render's context, as Tera does.
    fn macro_body(&mut self, definition: &tera::ast::MacroDefinition) {
        definition.args.values().flatten().for_each(|e| self.whole_expr(e));
        let args = definition.args.keys().cloned().collect();
        let outer = std::mem::replace(&mut self.macro_args, args);
        self.nodes(&definition.body);
        self.macro_args = outer;
    }

    fn bind(&mut self, name: &str, kind: Kind) {
        let entry = self.bound.entry(name.to_string()).or_insert(kind);
        *entry = (*entry).max(kind);
    }

    /// Content used whole may be read anywhere.
    fn whole(&mut self, kind: Kind) {
        self.whole |= kind != Kind::Plain;
    }

    fn whole_expr(&mut self, expr: &Expr) {
        let kind = self.expr(expr);
        self.whole(kind);
    }

    /// An `if` condition: content named bare (or joined with `and`, `or`, `not`) is only
    /// tested for being there.
    fn condition(&mut self, expr: &Expr) {
        match &expr.val {
            ExprVal::Ident(_) if expr.filters.is_empty() => {
                self.expr(expr);
            }
            ExprVal::Logic(logic)
                if expr.filters.is_empty()
                    && matches!(logic.operator, tera::ast::LogicOperator::And | tera::ast::LogicOperator::Or) =>
            {
                self.condition(&logic.lhs);
                self.condition(&logic.rhs);
            }
            _ => self.whole_expr(expr),
        }
    }

    /// The kind of an expression's value, noting every body field it reads on the way.
    fn expr(&mut self, expr: &Expr) -> Kind {
        let mut kind = self.value(&expr.val);
        for filter in &expr.filters {
            kind = self.filter(kind, filter);
        }
        kind
    }

    fn filter(&mut self, input: Kind, filter: &FunctionCall) -> Kind {
        for arg in filter.args.values() {
            // `sort(attribute="extra.rank")` and the like name a field in a string; named by
            // a variable, it may be any field.
            match &arg.val {
                ExprVal::String(field) if input != Kind::Plain => {
                    self.read.insert(top_field(field).to_string());
                }
                ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
                _ => self.whole(input),
            }
            self.whole_expr(arg);
        }
        match filter.name.as_str() {
            "length" => Kind::Plain,
            // A map from each value to its pages.
            "group_by" if input != Kind::Plain => Kind::Unknown,
            "map" => match filter.args.get("attribute").map(|a| &a.val) {
                Some(ExprVal::String(field)) => self.field(input, top_field(field), false),
                _ => {
                    self.whole(input);
                    Kind::Plain
                }
            },
            name if PASSING_FILTERS.contains(&name) => input,
            _ => {
                self.whole(input);
                Kind::Plain
            }
        }
    }

    fn value(&mut self, value: &ExprVal) -> Kind {
        match value {
            ExprVal::Ident(ident) => self.ident(ident),
            ExprVal::Math(math) => {
                self.whole_expr(&math.lhs);
                self.whole_expr(&math.rhs);
                Kind::Plain
            }
            ExprVal::Logic(logic) => {
                self.whole_expr(&logic.lhs);
                self.whole_expr(&logic.rhs);
                Kind::Plain
            }
            ExprVal::Test(test) => {
                let kind = self.ident(&test.ident);
                // `is containing("summary")` and the like look inside; `is defined` does not.
                if !matches!(test.name.as_str(), "defined" | "undefined") {
                    self.whole(kind);
                }
                test.args.iter().for_each(|e| self.whole_expr(e));
                Kind::Plain
            }
            ExprVal::MacroCall(call) => {
                call.args.values().for_each(|e| self.whole_expr(e));
                Kind::Plain
            }
            ExprVal::FunctionCall(call) => {
                call.args.values().for_each(|e| self.whole_expr(e));
                if CONTENT_FUNCTIONS.contains(&call.name.as_str()) { Kind::Other } else { Kind::Plain }
            }
            ExprVal::Array(items) => items.iter().map(|e| self.expr(e)).max().unwrap_or(Kind::Plain),
            ExprVal::StringConcat(concat) => {
                for part in &concat.values {
                    let kind = self.value(part);
                    self.whole(kind);
                }
                Kind::Plain
            }
            ExprVal::In(within) => {
                self.whole_expr(&within.lhs);
                self.whole_expr(&within.rhs);
                Kind::Plain
            }
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => Kind::Plain,
        }
    }

    /// `a.b.c`, `a.0`, `a[0]`, `a["b"]`, `a[b]`: the root's kind, then each field's.
    fn ident(&mut self, ident: &str) -> Kind {
        let end = ident.find(['.', '[']).unwrap_or(ident.len());
        let (root, mut rest) = ident.split_at(end);
        let mut kind = self.root(root);
        let mut direct = true;
        loop {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                // An item of a list (`pages.0`) is what the list holds.
                if name.parse::<usize>().is_err() {
                    kind = self.field(kind, name, direct);
                }
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                let inside = after[..end].trim();
                let quoted = inside.strip_prefix(['"', '\'']).and_then(|s| s.strip_suffix(['"', '\'']));
                match quoted {
                    Some(name) => kind = self.field(kind, name, direct),
                    None if inside.parse::<usize>().is_ok() => {}
                    None => {
                        // A subscript by a variable may name any field.
                        self.ident(inside);
                        self.whole(kind);
                        kind = if kind == Kind::Plain { Kind::Plain } else { Kind::Unknown };
                    }
                }
                rest = after.get(end + 1..).unwrap_or_default();
            } else {
                return kind;
            }
            direct = false;
        }
    }

    /// A name's kind: what it was bound to anywhere (bindings are not scoped here) and, for a
    /// context variable, what the context holds, whichever may hold more.
    fn root(&self, name: &str) -> Kind {
        let bound = self.bound.get(name).copied();
        if self.macro_args.contains(name) {
            return bound.unwrap_or(Kind::Plain).max(Kind::Plain);
        }
        let context = if Some(name) == self.own {
            Some(Kind::Own)
        } else if PLAIN_VARIABLES.contains(&name) || name == "loop" {
            Some(Kind::Plain)
        } else if CONTENT_VARIABLES.contains(&name) {
            Some(Kind::Other)
        } else {
            None
        };
        match (bound, context) {
            (Some(bound), Some(context)) => bound.max(context),
            (Some(kind), None) | (None, Some(kind)) => kind,
            (None, None) => Kind::Unknown,
        }
    }

    /// The kind of field `name` of a `kind` value; `direct` when the value is a context
    /// variable itself (the own page's own fields are no other's).
    fn field(&mut self, kind: Kind, name: &str, direct: bool) -> Kind {
        match kind {
            Kind::Plain => return Kind::Plain,
            Kind::Own if direct => {}
            _ => {
                self.read.insert(name.to_string());
            }
        }
        match kind {
            Kind::Unknown => Kind::Unknown,
            _ if CONTENT_FIELDS.contains(&name) => Kind::Other,
            _ => Kind::Plain,
        }
    }
}

/// `extra.rank` → `extra`.
fn top_field(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shows(templates: &[(&str, &str)], own: Option<&str>) -> bool {
        let mut tera = Tera::default();
        tera.add_raw_templates(templates.to_vec()).unwrap();
        others_read(&tera, templates.last().unwrap().0, own).any_of(&BODY_FIELDS)
    }

    #[test]
    fn lists_of_titles_links_and_dates_show_no_other_body() {
        for source in [
            "{{ page.content | safe }}{{ page.toc | length }}{% if page.lower %}{{ page.lower.title }}{% endif %}",
            "{% for p in paginator.pages %}{{ p.permalink }}{{ p.date | date(format=\"%Y\") }}{% endfor %}",
            "{% for s in section.subsections %}{% set sub = get_section(path=s) %}{{ sub.title }}\
             {{ sub.pages | length }}{% for p in sub.pages %}{% if loop.index <= 5 %}{{ p.title }}{% endif %}\
             {% endfor %}{% endfor %}{{ section.content | safe }}",
            "{% for t in page.taxonomies.tags %}{{ get_taxonomy_url(kind=\"tags\", name=t) }}{% endfor %}",
            "{% import \"m.html\" as m %}{{ m::link(url=page.permalink) }}",
        ] {
            let own = if source.contains("section.") { "section" } else { "page" };
            let m = ("m.html", "{% macro link(url) %}<a href=\"{{ url }}\">{{ url }}</a>{% endmacro link %}");
            assert!(!shows(&[m, ("t.html", source)], Some(own)), "{source}");
        }
    }

    #[test]
    fn bodies_of_other_content_count_however_they_are_reached() {
        for source in [
            "{{ page.lower.content | safe }}",
            "{% for p in paginator.pages %}{{ p.summary | safe }}{% endfor %}",
            "{% set s = get_section(path=\"blog/_index.md\") %}{% set first = s.pages | first %}{{ first.toc }}",
            "{% for p in section.pages | reverse %}{{ p.word_count }}{% endfor %}",
            "{% for b in page.backlinks %}{{ b.title }}{% endfor %}{{ page.lower.backlinks | length }}",
            "{{ section.pages | map(attribute=\"content\") | join(sep=\"\") }}",
            "{{ section.pages | sort(attribute=\"reading_time\") | length }}",
            "{% set f = \"content\" %}{% for p in paginator.pages %}{{ p[f] }}{% endfor %}",
            "{{ paginator.pages | json_encode }}",
            "{{ page | json_encode }}",
            "{% import \"m.html\" as m %}{{ m::card(p=page.lower) }}",
            "{{ mystery.content }}",
            "{{ __tera_context }}",
        ] {
            let m = ("m.html", "{% macro card(p) %}{{ p }}{% endmacro card %}");
            assert!(shows(&[m, ("t.html", source)], Some("page")), "{source}");
        }
    }

    fn reads(templates: &[(&str, &str)], own: Option<&str>, field: &str) -> bool {
        let mut tera = Tera::default();
        tera.add_raw_templates(templates.to_vec()).unwrap();
        others_read(&tera, templates.last().unwrap().0, own).any_of(&[field])
    }

    #[test]
    fn macros_see_the_context_and_their_loop_names_do_not_hide_it() {
        let recent = (
            "m.html",
            "{% macro recent() %}{% for p in paginator.pages %}{{ p.summary }}{% endfor %}{% endmacro recent %}",
        );
        let call = ("t.html", "{% import \"m.html\" as m %}{{ m::recent() }}");
        assert!(reads(&[recent, call], Some("section"), "summary"), "a macro reads the render's paginator");
        let list =
            ("m.html", "{% macro list(pages) %}{% for page in pages %}{{ page.title }}{% endfor %}{% endmacro list %}");
        let page = ("t.html", "{% import \"m.html\" as m %}{{ page.lower.title }}{{ m::list(pages=[]) }}");
        assert!(
            reads(&[list, page], Some("page"), "title"),
            "a macro's loop over `page` leaves the page's `page` alone"
        );
        let shadow = (
            "t.html",
            "{% for term in config.extra.menu %}{{ term }}{% endfor %}{{ term.pages | first | json_encode }}",
        );
        assert!(reads(&[shadow], None, "content"), "a loop named like a context variable keeps its content kind");
    }

    #[test]
    fn maps_of_content_tests_inside_and_fields_named_by_variables_count() {
        for (source, field) in [
            (
                "{% set g = section.pages | group_by(attribute=\"extra.series\") %}{% for p in g[\"rust\"] %}{{ p.summary }}{% endfor %}",
                "summary",
            ),
            ("{% if page.lower is containing(\"summary\") %}x{% endif %}", "summary"),
            (
                "{% set key = \"extra\" %}{% for p in section.pages | sort(attribute=key) %}{{ p.title }}{% endfor %}",
                "extra",
            ),
            ("{% for k, v in page %}{{ v.title }}{% endfor %}", "title"),
        ] {
            assert!(reads(&[("t.html", source)], Some("page"), field), "{source}");
        }
        assert!(!reads(
            &[("t.html", "{% if page.lower is defined %}{{ page.lower.title }}{% endif %}")],
            Some("page"),
            "summary"
        ));
    }

    #[test]
    fn the_whole_chain_counts_and_names_bound_below_their_use_too() {
        let base = ("base.html", "{% block b %}{% endblock b %}{% include \"inc.html\" %}");
        let inc = ("inc.html", "{{ latest.content | safe }}");
        let child = (
            "t.html",
            "{% extends \"base.html\" %}{% block b %}{% set latest = get_page(path=\"a.md\") %}{% endblock b %}",
        );
        assert!(shows(&[base, inc, child], Some("page")));
        let own_inc = ("inc.html", "{{ page.content | safe }}");
        let plain_child = ("t.html", "{% extends \"base.html\" %}{% block b %}{{ page.title }}{% endblock b %}");
        assert!(!shows(&[base, own_inc, plain_child], Some("page")));
        assert!(shows(&[base, own_inc, plain_child], None), "a feed's `page` is no own page");
    }
}
