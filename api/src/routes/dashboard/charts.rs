//! Server-rendered SVG bar charts: no script, no chart library. Readable with a launch spike:
//! bars scale to the tallest, whose value labels the axis, and any non-zero bucket stays at
//! least a pixel tall however small beside it.

use std::fmt::Write;

use crate::error::escape_html as escape;

const WIDTH: f64 = 720.0;
/// The plot area's top and bottom (the baseline); time labels go below.
const TOP: f64 = 14.0;
const BASELINE: f64 = 170.0;
const HEIGHT: f64 = 192.0;
/// Room for the value labels on the left.
const LEFT: f64 = 96.0;

/// One bucket: its time label, its value and its tooltip.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub title: String,
}

/// A bar chart of `bars`, oldest first, one slot per bucket (empty buckets keep their place, so
/// the time axis is even). `describe` writes a value for the axis.
pub fn bars(series: &str, caption: &str, bars: &[Bar], describe: impl Fn(i64) -> String) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let scale = |value: i64| value as f64 / max as f64 * (BASELINE - TOP);
    let mut svg = format!(
        r#"<svg class="chart" data-series="{series}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{caption}</title>"#,
        series = escape(series),
        caption = escape(caption),
    );
    // Lines and value labels at the top (the tallest bar), half-way and zero.
    let mut marks = vec![(TOP, max), (BASELINE, 0)];
    if max >= 2 {
        marks.push((BASELINE - scale(max / 2), max / 2));
    }
    for (y, value) in marks {
        let class = if value == 0 { "axis" } else { "grid" };
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{LEFT}" y1="{y:.1}" x2="{WIDTH}" y2="{y:.1}"/><text x="{x}" y="{y:.1}" dy="4" text-anchor="end">{text}</text>"#,
            x = LEFT - 6.0,
            text = escape(&describe(value)),
        );
    }
    for (index, bar) in bars.iter().enumerate().filter(|(_, b)| b.value > 0) {
        let height = scale(bar.value).max(1.0);
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{x:.2}" y="{y:.2}" width="{width:.2}" height="{height:.2}" data-value="{value}" data-start="{label}"><title>{title}</title></rect>"#,
            class = if bar.value == max { "bar peak" } else { "bar" },
            x = LEFT + index as f64 * slot + slot * 0.1,
            y = BASELINE - height,
            width = (slot * 0.8).max(1.0),
            value = bar.value,
            label = escape(&bar.label),
            title = escape(&bar.title),
        );
    }
    let labels = [(0, "start"), (bars.len() / 2, "middle"), (bars.len().saturating_sub(1), "end")];
    for (index, anchor) in labels {
        if let Some(bar) = bars.get(index) {
            let x = LEFT + (index as f64 + 0.5) * slot;
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{y}" text-anchor="{anchor}">{label}</text>"#,
                y = HEIGHT - 4.0,
                label = escape(&bar.label),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(value: i64) -> Bar {
        Bar { label: format!("t{value}"), value, title: format!("{value} gifts") }
    }

    #[test]
    fn a_spike_sets_the_scale_and_small_buckets_stay_visible() {
        let svg = bars("gifts", "Gifts <per minute>", &[bar(0), bar(1), bar(1000), bar(0)], |v| format!("{v} gifts"));
        assert!(svg.contains("<title>Gifts &lt;per minute&gt;</title>"), "{svg}");
        assert_eq!(svg.matches("<rect ").count(), 2, "empty buckets draw nothing: {svg}");
        assert!(svg.contains(r#"class="bar peak""#) && svg.contains(r#"height="156.00" data-value="1000""#), "{svg}");
        assert!(svg.contains(r#"height="1.00" data-value="1""#), "{svg}");
        for label in [">1000 gifts<", ">500 gifts<", ">0 gifts<", ">t0<", ">t1000<"] {
            assert!(svg.contains(label), "{label} in {svg}");
        }
    }

    #[test]
    fn a_chart_without_gifts_still_has_its_axis() {
        let svg = bars("gifts", "Gifts", &[bar(0), bar(0)], |v| v.to_string());
        assert_eq!(svg.matches("<rect ").count(), 0);
        assert!(svg.contains(r#"class="axis""#), "{svg}");
    }
}
