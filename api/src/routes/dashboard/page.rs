//! The dashboard as one server-rendered page: no script, no inline style (its CSP allows only
//! its own stylesheet), readable as a document. Every dynamic text is escaped.

use std::fmt::Write;

use super::charts::{self, Bar};
use super::data::{CampaignNow, Dashboard, GiftBucket};
use crate::db::TimeBucket;
use crate::error::escape_html as escape;

/// Share links listed on the page (the CSV has them all).
const LINKS_SHOWN: usize = 25;

/// Minor units in `currency` as people write them: `1,250.50 USD`.
fn money(currency: &str, minor: i64) -> String {
    match campaigns::Currency::parse(currency) {
        Ok(parsed) => format!("{} {}", grouped(&parsed.format_major(minor)), parsed.code()),
        Err(_) => format!("{minor} (minor units)"),
    }
}

/// Thousands separated by commas: `-1234567.5` → `-1,234,567.5`.
fn grouped(number: &str) -> String {
    let (sign, unsigned) = number.strip_prefix('-').map_or(("", number), |rest| ("-", rest));
    let (whole, fraction) = unsigned.split_once('.').map_or((unsigned, None), |(w, f)| (w, Some(f)));
    let mut text = String::from(sign);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    if let Some(fraction) = fraction {
        text.push('.');
        text.push_str(fraction);
    }
    text
}

fn count_gifts(count: i64) -> String {
    if count == 1 { "1 gift".into() } else { format!("{count} gifts") }
}

fn percent(rate: Option<f64>) -> String {
    match rate {
        None => "–".into(),
        // A small share stays visible rather than rounding to nothing.
        Some(r) if r > 0.0 && r < 0.01 => format!("{:.2}%", r * 100.0),
        Some(r) => format!("{:.1}%", r * 100.0),
    }
}

fn duration(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        s => format!("{} days {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// `2026-11-24T17:36:33.120Z` as `2026-11-24 17:36:33 UTC`.
fn when(rfc3339: &str) -> String {
    format!("{} UTC", rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " "))
}

/// A bucket's start as short as its width allows.
fn bucket_label(start: &str, bucket: TimeBucket) -> String {
    match bucket {
        TimeBucket::Day => start.get(..10).unwrap_or(start).to_string(),
        TimeBucket::Minute | TimeBucket::Hour => start.get(5..16).unwrap_or(start).replace('T', " "),
    }
}

fn window_text(bucket: TimeBucket) -> &'static str {
    match bucket {
        TimeBucket::Minute => "the last 2 hours",
        TimeBucket::Hour => "the last 7 days",
        TimeBucket::Day => "the last 92 days",
    }
}

/// A table; `headers` name the columns (`true` for numbers, aligned right), `rows` hold
/// escaped HTML.
fn table(html: &mut String, caption: &str, headers: &[(&str, bool)], rows: &[Vec<String>]) {
    let _ = write!(html, "<table><caption>{}</caption><thead><tr>", escape(caption));
    for (header, numeric) in headers {
        let class = if *numeric { r#" class="num""# } else { "" };
        let _ = write!(html, r#"<th scope="col"{class}>{}</th>"#, escape(header));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        html.push_str("<tr>");
        for (cell, (_, numeric)) in row.iter().zip(headers) {
            let class = if *numeric { r#" class="num""# } else { "" };
            let _ = write!(html, "<td{class}>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
}

pub fn render(dashboard: &Dashboard) -> String {
    let mut html = format!(
        r##"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><link rel="icon" href="data:,"><title>Pledge dashboard</title><link rel="stylesheet" href="dashboard.css"></head><body>
<header><h1>Pledge dashboard</h1><p>Version {version}, as of {at}. <a href="?bucket={bucket}">Refresh</a></p></header>
<nav aria-label="Sections"><a href="#campaigns">Campaigns</a><a href="#gifts">Over time</a><a href="#payments">Payments</a><a href="#referrals">Share links</a><a href="#system">System</a></nav><main>"##,
        version = escape(dashboard.version),
        at = escape(&when(&dashboard.generated_at)),
        bucket = dashboard.gifts.bucket.as_str(),
    );
    if !dashboard.system.database_reachable {
        html.push_str(
            r#"<p class="alert" role="alert">The database is not answering. The totals are the last ones this server read; everything else the database holds is missing below.</p>"#,
        );
    }
    campaigns_now(&mut html, dashboard);
    gifts_over_time(&mut html, dashboard);
    payments(&mut html, dashboard);
    referrals(&mut html, dashboard);
    system(&mut html, dashboard);
    html.push_str(
        r#"<section id="downloads" aria-labelledby="downloads-title"><h2 id="downloads-title">Downloads</h2><p>Everything above as <a href="../api/v1/admin/dashboard.json">JSON</a>, and as CSV: <a href="../api/v1/admin/dashboard/campaigns.csv">campaigns</a>, <a href="../api/v1/admin/dashboard/recent.csv">latest gifts</a>, <a href="../api/v1/admin/dashboard/gifts.csv">gifts over time</a>, <a href="../api/v1/admin/dashboard/gateways.csv">gateways</a>, <a href="../api/v1/admin/dashboard/routing.csv">routing</a>, <a href="../api/v1/admin/dashboard/pending.csv">pending donations</a>, <a href="../api/v1/admin/dashboard/review.csv">events kept for review</a>, <a href="../api/v1/admin/dashboard/referrals.csv">share links</a>, <a href="../api/v1/admin/dashboard/system.csv">system</a>; and <a href="../api/v1/admin/donations.csv">every donation</a>.</p></section></main></body></html>"#,
    );
    html
}

fn campaigns_now(html: &mut String, dashboard: &Dashboard) {
    html.push_str(
        r#"<section id="campaigns" aria-labelledby="campaigns-title"><h2 id="campaigns-title">The campaigns now</h2>"#,
    );
    for campaign in &dashboard.campaigns {
        campaign_now(html, campaign);
    }
    html.push_str("</section>");
}

fn campaign_now(html: &mut String, campaign: &CampaignNow) {
    let m = |minor| money(&campaign.currency, minor);
    let share = (campaign.goal_minor > 0).then(|| campaign.raised_minor as f64 / campaign.goal_minor as f64);
    let _ = write!(
        html,
        r#"<article id="campaign-{slug}"><h3>{slug}</h3><div class="figures"><p class="figure">Raised<strong data-raised>{raised}</strong>{share} of {goal}</p><p class="figure">Gifts counted<strong data-donors>{donors}</strong>refunds and chargebacks left out</p><p class="figure">Average gift<strong>{average}</strong></p></div><progress max="{max}" value="{value}" aria-label="{slug}: raised of the goal"></progress>"#,
        slug = escape(&campaign.slug),
        raised = escape(&m(campaign.raised_minor)),
        share = percent(share),
        goal = escape(&m(campaign.goal_minor)),
        donors = campaign.donors,
        average = escape(&campaign.average_gift_minor.map_or_else(|| "–".into(), m)),
        max = campaign.goal_minor.max(1),
        value = campaign.raised_minor.clamp(0, campaign.goal_minor.max(1)),
    );
    if campaign.recent.is_empty() {
        html.push_str("<p>No gifts yet.</p>");
    } else {
        let rows: Vec<Vec<String>> = campaign
            .recent
            .iter()
            .map(|gift| {
                vec![
                    escape(&when(&gift.at)),
                    escape(gift.name.as_deref().unwrap_or("Anonymous")),
                    escape(&m(gift.amount_minor)),
                ]
            })
            .collect();
        table(
            html,
            "Latest gifts (names only where donors allowed them)",
            &[("When", false), ("Name", false), ("Amount", true)],
            &rows,
        );
    }
    html.push_str("</article>");
}

fn gifts_over_time(html: &mut String, dashboard: &Dashboard) {
    let gifts = &dashboard.gifts;
    let bucket = gifts.bucket.as_str();
    let _ = write!(
        html,
        r#"<section id="gifts" aria-labelledby="gifts-title"><h2 id="gifts-title">Gifts per {bucket}, {window}</h2><nav aria-label="Bucket width" class="buckets">"#,
        window = window_text(gifts.bucket),
    );
    for choice in [TimeBucket::Minute, TimeBucket::Hour, TimeBucket::Day] {
        let current = if choice == gifts.bucket { r#" aria-current="page""# } else { "" };
        let _ = write!(html, r##"<a href="?bucket={0}#gifts"{current}>per {0}</a>"##, choice.as_str());
    }
    html.push_str("</nav>");
    for campaign in &dashboard.campaigns {
        let series: Vec<&GiftBucket> = gifts.series.iter().filter(|b| b.campaign == campaign.slug).collect();
        let m = |minor| money(&campaign.currency, minor);
        let total: i64 = series.iter().map(|b| b.gifts).sum();
        let amount: i64 = series.iter().map(|b| b.amount_minor).sum();
        let _ = write!(
            html,
            r#"<article id="gifts-{slug}"><h3>{slug}</h3><p>{total} counted, {amount}, in {window}"#,
            slug = escape(&campaign.slug),
            total = count_gifts(total),
            amount = escape(&m(amount)),
            window = window_text(gifts.bucket),
        );
        // The busiest bucket, the earliest if several tie: the launch spike, in words.
        if let Some(peak) = series.iter().filter(|b| b.gifts > 0).rev().max_by_key(|b| b.gifts) {
            let _ = write!(
                html,
                "; the busiest {bucket} began {} with {} ({})",
                escape(&when(&peak.start)),
                count_gifts(peak.gifts),
                escape(&m(peak.amount_minor)),
            );
        }
        html.push_str(".</p>");
        let bar = |value: i64, b: &GiftBucket| Bar {
            label: bucket_label(&b.start, gifts.bucket),
            value,
            title: format!("{}: {}, {}", when(&b.start), count_gifts(b.gifts), m(b.amount_minor)),
        };
        let counts: Vec<Bar> = series.iter().map(|b| bar(b.gifts, b)).collect();
        let amounts: Vec<Bar> = series.iter().map(|b| bar(b.amount_minor, b)).collect();
        html.push_str(&charts::bars("gifts", &format!("{}: gifts per {bucket}", campaign.slug), &counts, count_gifts));
        html.push_str(&charts::bars("amount", &format!("{}: amount per {bucket}", campaign.slug), &amounts, m));
        html.push_str("</article>");
    }
    html.push_str("</section>");
}

fn payments(html: &mut String, dashboard: &Dashboard) {
    let payments = &dashboard.payments;
    html.push_str(r#"<section id="payments" aria-labelledby="payments-title"><h2 id="payments-title">Payments</h2>"#);
    let rows: Vec<Vec<String>> = payments
        .gateways
        .iter()
        .map(|g| {
            let state = match (&g.avoided_because, g.configured) {
                (Some(reason), _) => format!(r#"<span class="bad">avoided: {}</span>"#, escape(reason)),
                (None, true) => r#"<span class="ok">healthy</span>"#.into(),
                (None, false) => "not a configured gateway".into(),
            };
            let recent = if g.configured {
                let mut text = format!(
                    "{} starts, {} failed; {} paid, {} declined",
                    g.recent_starts, g.recent_start_errors, g.recent_paid, g.recent_declined
                );
                // Rates only once there are enough samples to trust them, as failover does.
                if g.recent_error_rate.is_some() || g.recent_decline_rate.is_some() {
                    let _ = write!(
                        text,
                        " (errors {}, declines {})",
                        percent(g.recent_error_rate),
                        percent(g.recent_decline_rate)
                    );
                }
                text
            } else {
                "–".into()
            };
            vec![
                escape(&g.gateway),
                g.started.to_string(),
                g.succeeded.to_string(),
                g.failed.to_string(),
                g.abandoned.to_string(),
                g.pending.to_string(),
                g.refunded.to_string(),
                g.disputed.to_string(),
                g.charged_back.to_string(),
                percent(g.decline_rate),
                recent,
                state,
            ]
        })
        .collect();
    table(
        html,
        "Donations by gateway since the start; the last columns are this server's recent record, which failover acts on",
        &[
            ("Gateway", false),
            ("Started", true),
            ("Succeeded", true),
            ("Failed", true),
            ("Abandoned", true),
            ("Pending", true),
            ("Refunded", true),
            ("Disputed", true),
            ("Charged back", true),
            ("Declined", true),
            ("Recently", false),
            ("State", false),
        ],
        &rows,
    );

    html.push_str(r#"<h3>Routing now</h3><ul class="routing">"#);
    for route in &payments.routing {
        let weights: Vec<String> = route.gateways.iter().map(|s| format!("{} {}", s.gateway, s.weight)).collect();
        let _ = write!(
            html,
            "<li><strong>{campaign}</strong> ({currency}): new gifts go to <strong>{preferred}</strong>: {why}. Weights: {weights}.</li>",
            campaign = escape(&route.campaign),
            currency = escape(&route.currency),
            preferred = escape(route.preferred.as_deref().unwrap_or("no gateway")),
            why = escape(&route.why),
            weights = escape(&weights.join(", ")),
        );
    }
    html.push_str("</ul>");

    let pending = &payments.pending;
    html.push_str("<h3>Pending donations</h3>");
    match pending.oldest_seconds {
        Some(oldest) if pending.count > 0 => {
            let _ = write!(
                html,
                "<p><strong data-pending>{}</strong> waiting for a gateway's verdict, the oldest for {}; the reconciler has asked about {} of them.</p>",
                pending.count,
                duration(oldest),
                pending.reconciling,
            );
        }
        _ => html.push_str("<p><strong data-pending>0</strong> waiting for a gateway's verdict.</p>"),
    }
    if !pending.oldest.is_empty() {
        let rows: Vec<Vec<String>> = pending
            .oldest
            .iter()
            .map(|p| {
                let next = match p.next_check_seconds {
                    None => "at its first check".into(),
                    Some(s) if s <= 0 => "now (due)".into(),
                    Some(s) => format!("in {}", duration(s)),
                };
                vec![
                    escape(&p.id),
                    escape(&p.campaign),
                    escape(&p.gateway),
                    escape(&money(&p.currency, p.amount_minor)),
                    duration(p.age_seconds),
                    p.attempts.to_string(),
                    next,
                ]
            })
            .collect();
        table(
            html,
            "Longest waiting",
            &[
                ("Donation", false),
                ("Campaign", false),
                ("Gateway", false),
                ("Amount", true),
                ("Waiting", true),
                ("Asked", true),
                ("Next question", false),
            ],
            &rows,
        );
    }

    html.push_str("<h3>Events kept for review</h3>");
    if payments.review.is_empty() {
        html.push_str("<p>None: every gateway event matched its donation.</p>");
    } else {
        let rows: Vec<Vec<String>> = payments
            .review
            .iter()
            .map(|e| {
                let amount = match (e.amount_minor, &e.currency) {
                    (Some(minor), Some(currency)) => money(currency, minor),
                    _ => "–".into(),
                };
                vec![
                    escape(&when(&e.received_at)),
                    escape(&e.gateway),
                    escape(&e.event_id),
                    escape(&e.donation_id),
                    escape(&e.outcome),
                    escape(&amount),
                    escape(&e.result),
                ]
            })
            .collect();
        table(
            html,
            "Events that changed nothing and deserve a look, newest first",
            &[
                ("Received", false),
                ("Gateway", false),
                ("Event", false),
                ("Donation", false),
                ("Said", false),
                ("Amount", true),
                ("What happened", false),
            ],
            &rows,
        );
    }
    html.push_str("</section>");
}

fn referrals(html: &mut String, dashboard: &Dashboard) {
    let referrals = &dashboard.referrals;
    html.push_str(
        r#"<section id="referrals" aria-labelledby="referrals-title"><h2 id="referrals-title">Share links</h2>"#,
    );
    let rate = |part: i64, whole: i64| percent((whole > 0).then(|| part as f64 / whole as f64));
    let rows: Vec<Vec<String>> = referrals
        .campaigns
        .iter()
        .map(|f| {
            vec![
                escape(&f.campaign),
                f.links.to_string(),
                f.clicks.to_string(),
                format!("{} ({})", f.started, rate(f.started, f.clicks)),
                format!("{} ({})", f.donations, rate(f.donations, f.started)),
                escape(&money(&f.currency, f.raised_minor)),
            ]
        })
        .collect();
    table(
        html,
        "The funnel: clicks, then donations started (share of clicks), then gifts counted (share of those started)",
        &[("Campaign", false), ("Links", true), ("Clicks", true), ("Started", true), ("Gifts", true), ("Raised", true)],
        &rows,
    );
    if !referrals.links.is_empty() {
        let currency = |slug: &str| {
            dashboard.campaigns.iter().find(|c| c.slug == slug).map_or_else(String::new, |c| c.currency.clone())
        };
        let rows: Vec<Vec<String>> = referrals
            .links
            .iter()
            .take(LINKS_SHOWN)
            .map(|l| {
                vec![
                    escape(&l.code),
                    escape(&l.campaign),
                    l.clicks.to_string(),
                    l.started.to_string(),
                    l.donations.to_string(),
                    rate(l.donations, l.clicks),
                    escape(&money(&currency(&l.campaign), l.raised_minor)),
                ]
            })
            .collect();
        let caption = format!(
            "The best links by money raised ({} of {}; the CSV has them all)",
            rows.len(),
            referrals.links.len()
        );
        table(
            html,
            &caption,
            &[
                ("Code", false),
                ("Campaign", false),
                ("Clicks", true),
                ("Started", true),
                ("Gifts", true),
                ("Gifts per click", true),
                ("Raised", true),
            ],
            &rows,
        );
    }
    html.push_str("</section>");
}

fn system(html: &mut String, dashboard: &Dashboard) {
    let system = &dashboard.system;
    let requests = &system.requests;
    let flag = |good: bool, yes: &str, no: &str| {
        if good { format!(r#"<span class="ok">{yes}</span>"#) } else { format!(r#"<span class="bad">{no}</span>"#) }
    };
    let age = system.totals_age_ms.map_or_else(|| "never refreshed".into(), |ms| format!("{ms} ms old"));
    let _ = write!(
        html,
        r#"<section id="system" aria-labelledby="system-title"><h2 id="system-title">System</h2><div class="figures">
<p class="figure">Requests per minute<strong>{last_minute}</strong>last minute; {per_minute:.1} on average since the start</p>
<p class="figure">Server errors (5xx)<strong>{errors_recent}</strong>last minute; {errors:.2}% since the start ({server_errors} of {total})</p>
<p class="figure">Latency p50 / p90 / p99<strong>{p50:.1} / {p90:.1} / {p99:.1} ms</strong>mean {mean:.1} ms, since the start</p>
<p class="figure">Totals<strong>{totals}</strong>{age}, refreshed every {refresh} ms</p>
<p class="figure">Database<strong>{database}</strong></p>
<p class="figure">Running<strong>{version}</strong>up {uptime}</p></div></section>"#,
        last_minute = requests.last_minute_requests,
        per_minute = requests.requests_per_minute,
        errors_recent = percent(requests.last_minute_error_rate),
        errors = requests.error_rate * 100.0,
        server_errors = requests.responses_5xx,
        total = requests.requests,
        p50 = requests.p50_ms,
        p90 = requests.p90_ms,
        p99 = requests.p99_ms,
        mean = requests.mean_ms,
        totals = flag(!system.totals_stale, "fresh", "stale"),
        age = escape(&age),
        refresh = system.totals_refresh_ms,
        database = flag(system.database_reachable, "reachable", "unreachable"),
        version = escape(system.version),
        uptime = duration(i64::try_from(requests.uptime_seconds).unwrap_or(i64::MAX)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_times_and_durations_read_naturally() {
        assert_eq!(money("USD", 125_050), "1,250.50 USD");
        assert_eq!(money("USD", -100_000_000), "-1,000,000 USD");
        assert_eq!(money("KWD", 1_234_567), "1,234.567 KWD");
        assert_eq!(money("USD", 99_900), "999 USD");
        assert_eq!(percent(Some(0.0003)), "0.03%");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(money("JPY", 500), "500 JPY");
        assert_eq!(money("???", 5), "5 (minor units)");
        assert_eq!(when("2026-11-24T17:36:33.120Z"), "2026-11-24 17:36:33 UTC");
        assert_eq!(bucket_label("2026-11-24T17:36:00Z", TimeBucket::Minute), "11-24 17:36");
        assert_eq!(bucket_label("2026-11-24T00:00:00Z", TimeBucket::Day), "2026-11-24");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(3_700), "61 min");
        assert_eq!(duration(90_000), "25 h 0 min");
        assert_eq!(duration(200_000), "2 days 7 h");
    }
}
