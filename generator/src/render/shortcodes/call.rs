//! The syntax of one shortcode tag at an offset of a body: `{{ name(args) }}`, `{% name(args) %}`,
//! `{% end %}`, and the escapes `{{/* … */}}` and `{%/* … */%}`.
//!
//! Arguments are named and their values are literals only (shortcodes are not Tera: they cannot
//! read variables or compute): a string in `"…"`, `'…'` or `` `…` `` (no escape sequences, so a
//! string holds the other two quotes), an integer, a float (digits on both sides of the `.`),
//! `true`/`false`, or an array of those.

use tera::Value;

/// What an opening `{{` or `{%` turned out to be.
#[derive(Debug, PartialEq)]
pub(super) enum Tag<'a> {
    /// `{{ name(args) }}`
    Inline(Call<'a>),
    /// `{% name(args) %}`: its body runs to the matching `{% end %}`.
    BodyStart(Call<'a>),
    /// `{% end %}`
    BodyEnd,
    /// `{{/* inner */}}` or `{%/* inner */%}`, written out as `{{ inner }}` or `{% inner %}`.
    Escaped { open: &'static str, inner: &'a str, close: &'static str },
}

#[derive(Debug, PartialEq)]
pub(super) struct Call<'a> {
    pub name: &'a str,
    pub args: Vec<(&'a str, Value)>,
}

#[derive(Debug, PartialEq)]
pub(super) struct Parsed<'a> {
    pub tag: Tag<'a>,
    /// The offset just past the tag.
    pub end: usize,
}

/// Parses the tag that starts at `at` (an offset of `{{` or `{%`).
///
/// `Ok(None)` when the text only resembles a tag (`{{ variable }}`, `{% if x %}`, `{{ x }` in
/// prose or maths): it stays text, as in Zola. Once `{{ name(` or `{% name(` is written the author
/// meant a shortcode, so anything malformed after it is an `Err` naming the problem.
pub(super) fn tag_at(text: &str, at: usize) -> Result<Option<Parsed<'_>>, String> {
    let mut cursor = Cursor { text, pos: at };
    let (open, close, escape_close) = if cursor.eat("{{") {
        ("{{", "}}", "*/}}")
    } else if cursor.eat("{%") {
        ("{%", "%}", "*/%}")
    } else {
        return Ok(None);
    };
    if cursor.eat("/*") {
        let Some(length) = text[cursor.pos..].find(escape_close) else { return Ok(None) };
        let inner = &text[cursor.pos..cursor.pos + length];
        let end = cursor.pos + length + escape_close.len();
        return Ok(Some(Parsed { tag: Tag::Escaped { open, inner, close }, end }));
    }
    cursor.skip_whitespace();
    let Some(name) = cursor.identifier() else { return Ok(None) };
    cursor.skip_whitespace();
    if open == "{%" && name == "end" && cursor.eat(close) {
        return Ok(Some(Parsed { tag: Tag::BodyEnd, end: cursor.pos }));
    }
    if !cursor.eat("(") {
        return Ok(None);
    }
    let args = arguments(&mut cursor)?;
    cursor.skip_whitespace();
    if !cursor.eat(close) {
        return Err(format!("expected `{close}` after the arguments"));
    }
    let call = Call { name, args };
    let tag = if open == "{{" { Tag::Inline(call) } else { Tag::BodyStart(call) };
    Ok(Some(Parsed { tag, end: cursor.pos }))
}

/// A shortcode or argument name: `[A-Za-z_][0-9A-Za-z_]*`.
pub(super) fn is_identifier(name: &str) -> bool {
    let mut cursor = Cursor { text: name, pos: 0 };
    cursor.identifier().is_some() && cursor.pos == name.len()
}

/// The arguments after `(`, through the closing `)`.
fn arguments<'a>(cursor: &mut Cursor<'a>) -> Result<Vec<(&'a str, Value)>, String> {
    let mut args: Vec<(&'a str, Value)> = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.eat(")") {
            return Ok(args);
        }
        let Some(name) = cursor.identifier() else {
            return Err("expected an argument name or `)`: arguments are named, `name=value`".to_string());
        };
        cursor.skip_whitespace();
        if !cursor.eat("=") {
            return Err(format!("argument `{name}` has no value: arguments are named, `{name}=value`"));
        }
        cursor.skip_whitespace();
        let value = value(cursor, true).map_err(|problem| format!("argument `{name}`: {problem}"))?;
        if args.iter().any(|(given, _)| *given == name) {
            return Err(format!("argument `{name}` is given twice"));
        }
        args.push((name, value));
        cursor.skip_whitespace();
        if !cursor.eat(",") && !cursor.at(")") {
            return Err(format!("expected `,` or `)` after argument `{name}`"));
        }
    }
}

fn value(cursor: &mut Cursor<'_>, array_allowed: bool) -> Result<Value, String> {
    match cursor.peek() {
        Some(quote @ (b'"' | b'\'' | b'`')) => {
            let start = cursor.pos + 1;
            let Some(length) = cursor.text[start..].find(char::from(quote)) else {
                return Err(format!("the string opened with {} is never closed", char::from(quote)));
            };
            cursor.pos = start + length + 1;
            Ok(Value::String(cursor.text[start..start + length].to_string()))
        }
        Some(b'[') if array_allowed => array(cursor),
        Some(b'[') => Err("an array cannot hold an array".to_string()),
        Some(b'-' | b'0'..=b'9') => number(cursor),
        _ => match cursor.identifier() {
            Some("true") => Ok(Value::Bool(true)),
            Some("false") => Ok(Value::Bool(false)),
            Some(word) => {
                Err(format!("`{word}` is not a value: strings need quotes, and a shortcode cannot read variables"))
            }
            None => Err("expected a value: a string, number, `true`, `false` or an array".to_string()),
        },
    }
}

fn array(cursor: &mut Cursor<'_>) -> Result<Value, String> {
    cursor.eat("[");
    let mut items = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.eat("]") {
            return Ok(Value::Array(items));
        }
        items.push(value(cursor, false)?);
        cursor.skip_whitespace();
        if !cursor.eat(",") && !cursor.at("]") {
            return Err("expected `,` or `]` in the array".to_string());
        }
    }
}

/// `-?[0-9]+` is an integer, `-?[0-9]+\.[0-9]+` a float; anything glued on (`12px`, `1.`) is refused.
fn number(cursor: &mut Cursor<'_>) -> Result<Value, String> {
    let start = cursor.pos;
    cursor.eat("-");
    let integer_digits = cursor.digits();
    let is_float = integer_digits > 0 && cursor.eat(".") && cursor.digits() > 0;
    let literal = &cursor.text[start..cursor.pos];
    let glued = cursor.peek().is_some_and(|b| b == b'.' || b == b'_' || b.is_ascii_alphanumeric());
    if integer_digits == 0 || glued || (literal.ends_with('.')) {
        let rest = cursor.text[cursor.pos..].split(|c: char| !(c == '.' || c == '_' || c.is_alphanumeric())).next();
        return Err(format!("`{literal}{}` is not a number", rest.unwrap_or("")));
    }
    if is_float {
        literal.parse::<f64>().map(Value::from).map_err(|e| format!("`{literal}`: {e}"))
    } else {
        literal.parse::<i64>().map(Value::from).map_err(|e| format!("`{literal}`: {e}"))
    }
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn at(&self, expected: &str) -> bool {
        self.text[self.pos..].starts_with(expected)
    }

    fn eat(&mut self, expected: &str) -> bool {
        let found = self.at(expected);
        if found {
            self.pos += expected.len();
        }
        found
    }

    /// Calls may span lines, as Zola allows.
    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn identifier(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.peek().is_some_and(|b| b == b'_' || b.is_ascii_alphabetic()) {
            return None;
        }
        while self.peek().is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        Some(&self.text[start..self.pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(text: &str) -> Call<'_> {
        match tag_at(text, 0) {
            Ok(Some(Parsed { tag: Tag::Inline(call) | Tag::BodyStart(call), .. })) => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn argument_values_of_every_kind_become_typed_values() {
        let parsed = call(
            "{{ all(d=\"say 'hi'\", s='a \"b\"', b=`c'd\"`, i=42, n=-7, f=1.5, g=-0.25, t=true, no=false, \
             list=[1, \"two\", 3.5, false], empty=[]) }}",
        );
        assert_eq!(parsed.name, "all");
        let args: serde_json::Map<String, Value> = parsed.args.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(
            Value::Object(args),
            json!({
                "d": "say 'hi'", "s": "a \"b\"", "b": "c'd\"", "i": 42, "n": -7, "f": 1.5, "g": -0.25,
                "t": true, "no": false, "list": [1, "two", 3.5, false], "empty": []
            })
        );
    }

    #[test]
    fn integers_and_floats_keep_their_kind() {
        let parsed = call("{{ x(i=3, f=3.0) }}");
        assert!(parsed.args[0].1.is_i64(), "{:?}", parsed.args);
        assert!(parsed.args[1].1.is_f64(), "{:?}", parsed.args);
    }

    #[test]
    fn a_call_without_arguments_and_one_spanning_lines_both_parse() {
        assert_eq!(call("{{ bare() }}"), Call { name: "bare", args: vec![] });
        let spread = call("{% figure(\n  src=\"a.png\",\n  alt='A',\n) %}");
        assert_eq!(spread.args, vec![("src", json!("a.png")), ("alt", json!("A"))]);
    }

    #[test]
    fn the_end_of_a_tag_is_just_past_its_closing_braces() {
        let text = "{{ a(x=1) }} after";
        assert_eq!(tag_at(text, 0).unwrap().unwrap().end, text.find(" after").unwrap());
        assert_eq!(tag_at("{%end%}!", 0).unwrap(), Some(Parsed { tag: Tag::BodyEnd, end: 7 }));
    }

    #[test]
    fn escapes_give_back_the_text_between_the_comment_marks() {
        let parsed = tag_at("{{/* youtube(id=\"x\") */}}", 0).unwrap().unwrap();
        assert_eq!(parsed.tag, Tag::Escaped { open: "{{", inner: " youtube(id=\"x\") ", close: "}}" });
        let parsed = tag_at("{%/* end */%}", 0).unwrap().unwrap();
        assert_eq!(parsed.tag, Tag::Escaped { open: "{%", inner: " end ", close: "%}" });
    }

    #[test]
    fn text_that_only_resembles_a_tag_stays_text() {
        for text in ["{{ variable }}", "{% if x %}", "{{ 1 + 2 }}", "{{", "{{/* never closed", "{% end", "{{ x }"] {
            assert_eq!(tag_at(text, 0), Ok(None), "{text}");
        }
    }

    #[test]
    fn malformed_calls_say_what_is_wrong() {
        let cases = [
            ("{{ x(1) }}", "arguments are named"),
            ("{{ x(a) }}", "argument `a` has no value"),
            ("{{ x(a=) }}", "argument `a`: expected a value"),
            ("{{ x(a=foo) }}", "`foo` is not a value"),
            ("{{ x(a=\"open) }}", "never closed"),
            ("{{ x(a=[[1]]) }}", "an array cannot hold an array"),
            ("{{ x(a=[1 2]) }}", "expected `,` or `]`"),
            ("{{ x(a=12px) }}", "`12px` is not a number"),
            ("{{ x(a=1.) }}", "`1.` is not a number"),
            ("{{ x(a=99999999999999999999) }}", "`99999999999999999999`"),
            ("{{ x(a=1 b=2) }}", "expected `,` or `)` after argument `a`"),
            ("{{ x(a=1, a=2) }}", "argument `a` is given twice"),
            ("{{ x(a=1) %}", "expected `}}`"),
            ("{% x(a=1) }}", "expected `%}`"),
        ];
        for (text, expected) in cases {
            match tag_at(text, 0) {
                Err(problem) => assert!(problem.contains(expected), "{text}: {problem}"),
                other => panic!("{text}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn identifiers_start_with_a_letter_or_underscore() {
        assert!(is_identifier("_note2"));
        assert!(!is_identifier("2note"));
        assert!(!is_identifier("my-note"));
        assert!(!is_identifier(""));
    }
}
