//! The data formats `load_data` reads, each turned into the value a template sees.

use std::path::Path;

use tera::{Map, Number, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum DataFormat {
    Toml,
    Json,
    Csv,
    Bibtex,
    Yaml,
    Xml,
    Plain,
}

impl DataFormat {
    /// The `format` argument's spelling.
    pub(super) fn named(name: &str) -> Result<Self, String> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "toml" => Self::Toml,
            "json" => Self::Json,
            "csv" => Self::Csv,
            "bibtex" => Self::Bibtex,
            "yaml" | "yml" => Self::Yaml,
            "xml" => Self::Xml,
            "plain" => Self::Plain,
            _ => return Err(format!("`format` {name} is not one of toml, json, csv, bibtex, yaml, xml, plain")),
        })
    }

    /// Guessed from a file's extension; anything unknown is plain text, as in Zola.
    pub(super) fn of_path(path: &Path) -> Self {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match extension.as_str() {
            "bib" => Self::Bibtex,
            other => Self::named(other).unwrap_or(Self::Plain),
        }
    }

    pub(super) fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Self::Toml => from_toml(text),
            Self::Json => serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}")),
            Self::Csv => from_csv(text),
            Self::Bibtex => from_bibtex(text),
            Self::Yaml => serde_saphyr::from_str::<Value>(text).map_err(|e| format!("invalid YAML: {e}")),
            Self::Xml => from_xml(text),
            Self::Plain => Ok(Value::String(text.to_string())),
        }
    }
}

/// BibTeX as Zola hands it to templates (it reads it with nom-bibtex too): `preambles`,
/// `comments`, `variables` (`@string`s), and `bibliographies`, each with a lower-cased
/// `entry_type`, its `citation_key`, and `tags` with lower-cased names.
fn from_bibtex(text: &str) -> Result<Value, String> {
    let bibtex = nom_bibtex::Bibtex::parse(text).map_err(|e| format!("invalid BibTeX: {e}"))?;
    let strings = |items: &[String]| Value::Array(items.iter().map(|item| Value::String(item.clone())).collect());
    let variables: serde_json::Map<String, Value> =
        bibtex.variables().iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect();
    let bibliographies = bibtex
        .bibliographies()
        .iter()
        .map(|entry| {
            let tags: serde_json::Map<String, Value> =
                entry.tags().iter().map(|(name, value)| (name.to_lowercase(), Value::String(value.clone()))).collect();
            serde_json::json!({
                "entry_type": entry.entry_type().to_lowercase(),
                "citation_key": entry.citation_key(),
                "tags": tags,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "preambles": strings(bibtex.preambles()),
        "comments": strings(bibtex.comments()),
        "variables": variables,
        "bibliographies": Value::Array(bibliographies),
    }))
}

fn from_toml(text: &str) -> Result<Value, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("invalid TOML: {e}"))?;
    Ok(toml_value(toml::Value::Table(table)))
}

/// TOML to a template value by hand: serde would turn dates into a private wrapper table, and
/// templates want them as the text they were written as.
fn toml_value(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_value).collect()),
        toml::Value::Table(table) => Value::Object(table.into_iter().map(|(k, v)| (k, toml_value(v))).collect()),
    }
}

/// `{headers: [...], records: [[...], ...]}`, every cell a string, as Zola documents it.
/// Cells are trimmed, so `Number, Title` gives the header `Title`, as in Zola's example.
fn from_csv(text: &str) -> Result<Value, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let invalid = |e: csv::Error| match e.position() {
        Some(position) => format!("invalid CSV on line {}: {e}", position.line()),
        None => format!("invalid CSV: {e}"),
    };
    let headers: Vec<Value> = reader.headers().map_err(invalid)?.iter().map(Value::from).collect();
    let mut records = Vec::new();
    for record in reader.records() {
        records.push(Value::Array(record.map_err(invalid)?.iter().map(Value::from).collect()));
    }
    Ok(serde_json::json!({ "headers": headers, "records": records }))
}

/// XML as nested objects: `{root_name: element}`, where an element with only text is that text,
/// and otherwise an object of `@attribute`s, child elements by name (an array when a name
/// repeats) and its text under `#text`. Text that reads as a number or boolean becomes one, so
/// templates can compare and count with it.
fn from_xml(text: &str) -> Result<Value, String> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(text);
    let invalid = |e: &dyn std::fmt::Display, at: u64| format!("invalid XML at byte {at}: {e}");
    let mut open: Vec<Element> = Vec::new();
    let mut document = Map::new();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| invalid(&e, at))?;
        match event {
            Event::Start(start) => open.push(Element::open(&start, &reader).map_err(|e| invalid(&e, at))?),
            Event::Empty(start) => {
                let element = Element::open(&start, &reader).map_err(|e| invalid(&e, at))?;
                close(element, &mut open, &mut document);
            }
            Event::End(_) => {
                let element = open.pop().ok_or_else(|| invalid(&"a closing tag without its opening tag", at))?;
                close(element, &mut open, &mut document);
            }
            Event::Text(t) => {
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&t.xml_content().map_err(|e| invalid(&e, at))?);
                }
            }
            Event::CData(t) => {
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&t.decode().map_err(|e| invalid(&e, at))?);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| invalid(&e, at))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| invalid(&e, at))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| invalid(&format!("unknown entity &{name};"), at))?
                            .to_string()
                    }
                };
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(element) = open.last() {
        return Err(format!("invalid XML: <{}> is never closed", element.name));
    }
    Ok(Value::Object(document))
}

struct Element {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

impl Element {
    fn open(start: &quick_xml::events::BytesStart, reader: &quick_xml::Reader<&[u8]>) -> Result<Self, String> {
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut fields = Map::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| e.to_string())?;
            let key = format!("@{}", String::from_utf8_lossy(attribute.key.as_ref()));
            let value = attribute.decode_and_unescape_value(reader.decoder()).map_err(|e| e.to_string())?;
            fields.insert(key, typed(&value));
        }
        Ok(Self { name, fields, text: String::new() })
    }

    fn into_value(self) -> Value {
        let text = self.text.trim();
        if self.fields.is_empty() {
            return if text.is_empty() { Value::Null } else { typed(text) };
        }
        let mut fields = self.fields;
        if !text.is_empty() {
            fields.insert("#text".into(), typed(text));
        }
        Value::Object(fields)
    }
}

fn close(element: Element, open: &mut [Element], document: &mut Map<String, Value>) {
    let name = element.name.clone();
    let value = element.into_value();
    let fields = match open.last_mut() {
        Some(parent) => &mut parent.fields,
        None => document,
    };
    match fields.get_mut(&name) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => *existing = Value::Array(vec![existing.take(), value]),
        None => {
            fields.insert(name, value);
        }
    }
}

/// A number or boolean if the text is exactly one; `007` stays text, since it is an identifier.
fn typed(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.trim_start_matches('-');
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !leading_zero && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_are_guessed_from_extensions_and_unknown_ones_are_plain() {
        for (file, format) in [
            ("a.toml", DataFormat::Toml),
            ("a.JSON", DataFormat::Json),
            ("a.csv", DataFormat::Csv),
            ("a.bib", DataFormat::Bibtex),
            ("a.yml", DataFormat::Yaml),
            ("a.yaml", DataFormat::Yaml),
            ("a.xml", DataFormat::Xml),
            ("a.txt", DataFormat::Plain),
            ("a", DataFormat::Plain),
        ] {
            assert_eq!(DataFormat::of_path(Path::new(file)), format, "{file}");
        }
        assert!(DataFormat::named("ini").unwrap_err().contains("ini"));
    }

    #[test]
    fn toml_keeps_types_and_dates_become_their_text() {
        let value =
            DataFormat::Toml.parse("n = 3\nf = 1.5\nok = true\nday = 2024-05-01\n[t]\nlist = [\"a\"]\n").unwrap();
        assert_eq!(value, json!({"n": 3, "f": 1.5, "ok": true, "day": "2024-05-01", "t": {"list": ["a"]}}));
    }

    #[test]
    fn csv_becomes_headers_and_records_of_strings() {
        let value = DataFormat::Csv.parse("Number, Title\n1,Gutenberg\n2,Printing\n").unwrap();
        assert_eq!(value, json!({"headers": ["Number", "Title"], "records": [["1", "Gutenberg"], ["2", "Printing"]]}));
        let error = DataFormat::Csv.parse("a,b\n1,2\n3\n").unwrap_err();
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn yaml_keeps_its_structure() {
        let value = DataFormat::Yaml.parse("name: bob\nitems:\n  - 1\n  - two\nnested: {ok: true}\n").unwrap();
        assert_eq!(value, json!({"name": "bob", "items": [1, "two"], "nested": {"ok": true}}));
        assert!(DataFormat::Yaml.parse("a: [unclosed\n").is_err());
    }

    #[test]
    fn xml_becomes_nested_objects_with_attributes_and_repeated_children_as_arrays() {
        let value = DataFormat::Xml
            .parse(
                r#"<?xml version="1.0"?>
<!-- a comment -->
<feed lang="en">
  <title>Tom &amp; Jerry &#x263A;</title>
  <entry id="1"><name>a</name><price>2.50</price></entry>
  <entry id="2"><name><![CDATA[<b>]]></name><zip>007</zip></entry>
  <empty/>
  <note kind="x">hello</note>
</feed>"#,
            )
            .unwrap();
        assert_eq!(
            value,
            json!({"feed": {
                "@lang": "en",
                "title": "Tom & Jerry ☺",
                "entry": [{"@id": 1, "name": "a", "price": 2.5}, {"@id": 2, "name": "<b>", "zip": "007"}],
                "empty": null,
                "note": {"@kind": "x", "#text": "hello"},
            }})
        );
        assert!(DataFormat::Xml.parse("<a><b></a>").is_err());
        assert!(DataFormat::Xml.parse("<a>").unwrap_err().contains("never closed"));
    }

    #[test]
    fn json_plain_and_bibtex() {
        assert_eq!(DataFormat::Json.parse(r#"{"a": [1]}"#).unwrap(), json!({"a": [1]}));
        assert!(DataFormat::Json.parse("{").unwrap_err().contains("invalid JSON"));
        assert_eq!(DataFormat::Plain.parse("{not parsed}").unwrap(), json!("{not parsed}"));
    }

    #[test]
    fn bibtex_becomes_zolas_bibliographies() {
        let text = "@string{pub = \"Pledge Press\"}\n@preamble{\"A preamble\"}\n@comment{A comment}\n\
                    @Book{water2024,\n  Title = {Clean Water},\n  author = {Ann Lee},\n  publisher = pub,\n  year = 2024\n}\n";
        let value = DataFormat::Bibtex.parse(text).unwrap();
        let entry = &value["bibliographies"][0];
        assert_eq!(entry["entry_type"], "book");
        assert_eq!(entry["citation_key"], "water2024");
        assert_eq!(entry["tags"]["title"], "Clean Water", "tag names lower-cased: {value}");
        assert_eq!(entry["tags"]["publisher"], "Pledge Press", "@string variables are substituted: {value}");
        assert_eq!(value["variables"]["pub"], "Pledge Press");
        assert_eq!(value["preambles"], json!(["A preamble"]));
        assert_eq!(value["comments"], json!(["A comment"]));
        assert!(DataFormat::Bibtex.parse("@misc{k, title={x}").unwrap_err().contains("invalid BibTeX"));
    }
}
