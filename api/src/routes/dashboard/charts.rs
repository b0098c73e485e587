//! Server-rendered SVG bar charts: no script, no chart library, readable with a launch spike
//! (bars scale to the tallest, whose value is written beside the axis).

use std::fmt::Write;

use super::page::escape;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 24.0;

/// One bar: its label (a time), its value, and the text of its tooltip.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub title: String,
}

/// Bars left to right (oldest first), with `describe` writing a value for the axis.
pub fn bars(caption: &str, bars: &[Bar], describe: impl Fn(i64) -> String) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    // A few bars stay narrow rather than filling the width, so one bucket never looks like many.
    let slot = ((WIDTH - LEFT) / bars.len().max(1) as f64).min(24.0);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {total}" role="img" aria-label="{caption}"><title>{caption}</title>"#,
        total = HEIGHT + BOTTOM,
        caption = escape(caption),
    );
    let _ = write!(
        svg,
        r#"<line x1="{LEFT}" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" stroke="gray"/><text x="{x}" y="12" text-anchor="end">{top}</text><text x="{x}" y="{HEIGHT}" text-anchor="end">0</text>"#,
        x = LEFT - 6.0,
        top = escape(&describe(max)),
    );
    for (index, bar) in bars.iter().enumerate() {
        let height = (bar.value as f64 / max as f64 * (HEIGHT - 16.0)).max(if bar.value > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{height:.1}" data-value="{value}"><title>{title}</title></rect>"#,
            x = LEFT + index as f64 * slot + slot * 0.1,
            y = HEIGHT - height,
            w = (slot * 0.8).max(1.0),
            value = bar.value,
            title = escape(&bar.title),
        );
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{y}">{first}</text><text x="{WIDTH}" y="{y}" text-anchor="end">{last}</text>"#,
            y = HEIGHT + 16.0,
            first = escape(&first.label),
            last = escape(&last.label),
        );
    }
    svg.push_str("</svg>");
    svg
}
