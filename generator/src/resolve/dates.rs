//! Front-matter dates: a TOML date or datetime, or a string in the same forms, as Zola reads
//! them. Kept as the text templates see and as a value to sort by.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A parsed date: `text` is what `page.date` shows, `at` orders pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDate {
    pub text: String,
    pub at: NaiveDateTime,
}

impl ContentDate {
    pub fn year(&self) -> i32 {
        chrono::Datelike::year(&self.at)
    }
    pub fn month(&self) -> u32 {
        chrono::Datelike::month(&self.at)
    }
    pub fn day(&self) -> u32 {
        chrono::Datelike::day(&self.at)
    }
}

/// `2016-01-01`, `2016-01-01T06:07:00Z`, `2016-01-01 06:07:00+02:00`, with or without offset
/// (the offset is applied, so dates in different zones sort by the instant they name).
pub fn parse(value: &toml::Value) -> Result<ContentDate, String> {
    let text = match value {
        toml::Value::Datetime(datetime) => datetime.to_string(),
        toml::Value::String(text) => text.trim().to_string(),
        other => return Err(format!("a date must be a TOML date or a string, not `{other}`")),
    };
    let at = parse_text(&text).ok_or_else(|| {
        format!("`{text}` is not a date: write 2024-01-31, 2024-01-31T10:00:00Z or 2024-01-31 10:00:00")
    })?;
    Ok(ContentDate { text, at })
}

fn parse_text(text: &str) -> Option<NaiveDateTime> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date.and_time(NaiveTime::MIN));
    }
    let normalised = text.replacen(' ', "T", 1);
    if let Ok(with_offset) = chrono::DateTime::parse_from_rfc3339(&normalised) {
        return Some(with_offset.naive_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&normalised, format).ok())
}

/// A file name's date prefix, as Zola takes it when front matter has no date:
/// `2016-10-08_a-post.md` or `2016-10-08-a-post.md` → (the date, `a-post`).
pub fn from_file_stem(stem: &str) -> Option<(ContentDate, &str)> {
    let (date, rest) = (stem.get(..10)?, stem.get(10..)?);
    let rest = rest.strip_prefix(['_', '-'])?;
    let at = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?.and_time(NaiveTime::MIN);
    (!rest.is_empty()).then(|| (ContentDate { text: date.to_string(), at }, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> toml::Value {
        toml::from_str::<toml::Table>(&format!("d = {text}")).unwrap()["d"].clone()
    }

    #[test]
    fn dates_parse_in_every_form_zola_accepts() {
        assert_eq!(parse(&date("2016-01-01")).unwrap().text, "2016-01-01");
        let utc = parse(&date("2016-01-01T06:07:00Z")).unwrap();
        assert_eq!(utc.text, "2016-01-01T06:07:00Z");
        let shifted = parse(&date("\"2016-01-01 08:07:00+02:00\"")).unwrap();
        assert_eq!(shifted.at, utc.at);
        assert_eq!((utc.year(), utc.month(), utc.day()), (2016, 1, 1));
        assert!(parse(&date("\"yesterday\"")).unwrap_err().contains("yesterday"));
        assert!(parse(&date("3")).is_err());
    }

    #[test]
    fn a_file_name_may_carry_the_date() {
        let (date, rest) = from_file_stem("2016-10-08_a-post").unwrap();
        assert_eq!((date.text.as_str(), rest), ("2016-10-08", "a-post"));
        assert!(from_file_stem("2016-13-08_x").is_none());
        assert!(from_file_stem("page-00001").is_none());
    }
}
