//! The dashboard as one server-rendered page, readable without script.

use std::fmt::Write;

use campaigns::Campaigns;
use url::Url;

use super::Dashboard;
use super::charts::{self, Bar};

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn money(campaigns: &Campaigns, slug: &str, minor: i64) -> String {
    match campaigns.get(slug) {
        Some(campaign) => format!("{} {}", campaign.currency.format_major(minor), campaign.currency.code()),
        None => minor.to_string(),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".into(), |r| format!("{:.1}%", r * 100.0))
}

pub fn render(dashboard: &Dashboard, campaigns: &Campaigns, stylesheet: &Url) -> String {
    let mut html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><link rel="icon" href="data:,"><title>Pledge dashboard</title><link rel="stylesheet" href="{css}"></head><body>
<header><h1>Pledge dashboard</h1><span>version {version}</span></header><main>"#,
        css = escape(stylesheet.as_str()),
        version = escape(dashboard.version),
    );
    campaign_now(&mut html, dashboard, campaigns);
    gifts_over_time(&mut html, dashboard, campaigns);
    payments(&mut html, dashboard, campaigns);
    referrals(&mut html, dashboard, campaigns);
    system(&mut html, dashboard);
    html.push_str(
        r#"<p>Also as <a href="/api/v1/admin/dashboard.json">JSON</a> and CSV: <a href="/api/v1/admin/dashboard/campaigns.csv">campaigns</a>, <a href="/api/v1/admin/dashboard/gifts.csv">gifts</a>, <a href="/api/v1/admin/dashboard/gateways.csv">gateways</a>, <a href="/api/v1/admin/dashboard/referrals.csv">share links</a>, <a href="/api/v1/admin/dashboard/review.csv">events kept for review</a>, <a href="/api/v1/admin/donations.csv">every donation</a>.</p></main></body></html>"#,
    );
    html
}

fn campaign_now(html: &mut String, dashboard: &Dashboard, campaigns: &Campaigns) {
    for campaign in &dashboard.campaigns {
        let m = |minor| money(campaigns, &campaign.slug, minor);
        let _ = write!(
            html,
            r#"<section id="campaign-{slug}"><h2>{slug}: the campaign now</h2><progress max="{goal}" value="{raised}"></progress>
<div class="figures"><div class="figure">Raised<strong data-raised>{raised_text}</strong></div><div class="figure">Goal<strong>{goal_text}</strong></div>
<div class="figure">Donors<strong data-donors>{donors}</strong></div><div class="figure">Average gift<strong>{average}</strong></div></div>"#,
            slug = escape(&campaign.slug),
            goal = campaign.goal_minor.max(1),
            raised = campaign.raised_minor.max(0),
            raised_text = m(campaign.raised_minor),
            goal_text = m(campaign.goal_minor),
            donors = campaign.donors,
            average = campaign.average_gift_minor.map_or_else(|| "–".into(), m),
        );
        html.push_str("<h3>Latest gifts</h3><table><tr><th>When</th><th>Name</th><th class=\"num\">Amount</th></tr>");
        for gift in &campaign.recent {
            let _ = write!(
                html,
                r#"<tr><td>{at}</td><td>{name}</td><td class="num">{amount}</td></tr>"#,
                at = escape(&gift.at),
                name = escape(gift.name.as_deref().unwrap_or("Anonymous")),
                amount = m(gift.amount_minor),
            );
        }
        html.push_str("</table></section>");
    }
}

fn gifts_over_time(html: &mut String, dashboard: &Dashboard, campaigns: &Campaigns) {
    let bucket = dashboard.gifts.bucket.as_str();
    let _ = write!(
        html,
        r#"<section id="gifts"><h2>Gifts per {bucket}</h2><nav><a href="?bucket=minute">per minute</a><a href="?bucket=hour">per hour</a><a href="?bucket=day">per day</a></nav>"#
    );
    for campaign in &dashboard.campaigns {
        let bars: Vec<Bar> = dashboard
            .gifts
            .series
            .iter()
            .rev()
            .filter(|b| b.campaign == campaign.slug)
            .map(|b| Bar {
                label: b.start.clone(),
                value: b.amount_minor,
                title: format!("{}: {} gifts, {}", b.start, b.gifts, money(campaigns, &campaign.slug, b.amount_minor)),
            })
            .collect();
        if bars.is_empty() {
            let _ = write!(html, "<p>{}: no gifts yet.</p>", escape(&campaign.slug));
            continue;
        }
        let caption = format!("{}: amount given per {bucket}", campaign.slug);
        html.push_str(&charts::bars(&caption, &bars, |v| money(campaigns, &campaign.slug, v)));
    }
    html.push_str("</section>");
}

fn payments(html: &mut String, dashboard: &Dashboard, campaigns: &Campaigns) {
    let payments = &dashboard.payments;
    html.push_str(
        r#"<section id="payments"><h2>Payments</h2><table><tr><th>Gateway</th><th class="num">Started</th><th class="num">Succeeded</th><th class="num">Failed</th><th class="num">Abandoned</th><th class="num">Pending</th><th class="num">Refunded</th><th class="num">Disputed</th><th class="num">Charged back</th><th class="num">Start errors</th><th class="num">Declines</th><th>State</th></tr>"#,
    );
    for counts in &payments.gateways {
        let health = payments.health.iter().find(|h| h.gateway == counts.gateway);
        let state = match health {
            Some(h) if !h.healthy => {
                format!(r#"<span class="bad">avoided: {}</span>"#, escape(h.reason.as_deref().unwrap_or("")))
            }
            Some(_) => r#"<span class="ok">healthy</span>"#.into(),
            None => "not configured now".into(),
        };
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{state}</td></tr>"#,
            escape(&counts.gateway),
            counts.started,
            counts.succeeded,
            counts.failed,
            counts.abandoned,
            counts.pending,
            counts.refunded,
            counts.disputed,
            counts.charged_back,
            percent(health.and_then(|h| h.error_rate)),
            percent(health.and_then(|h| h.decline_rate)),
        );
    }
    html.push_str("</table><h3>Routing now</h3><ul>");
    for route in &payments.routing {
        let shares: Vec<String> = route
            .gateways
            .iter()
            .map(|s| format!("{} (weight {}{})", s.gateway, s.weight, if s.healthy { "" } else { ", avoided" }))
            .collect();
        let _ = write!(
            html,
            "<li>{} ({}): {}</li>",
            escape(&route.campaign),
            escape(&route.currency),
            escape(&shares.join(", "))
        );
    }
    let _ = write!(
        html,
        "</ul><p>Pending: <strong>{}</strong> donations, the oldest {} old; the reconciler has asked about {}.</p>",
        payments.pending.count,
        payments.pending.oldest_seconds.map_or_else(|| "–".into(), |s| format!("{}s", s)),
        payments.pending.reconciling,
    );
    html.push_str("<h3>Events kept for review</h3>");
    if payments.review.is_empty() {
        html.push_str("<p>None.</p>");
    } else {
        html.push_str("<table><tr><th>Received</th><th>Gateway</th><th>Event</th><th>Donation</th><th>Said</th><th>What happened</th><th class=\"num\">Amount</th></tr>");
        for event in &payments.review {
            let amount = match (event.amount_minor, &event.currency) {
                (Some(minor), Some(currency)) => format!("{minor} {currency} (minor units)"),
                _ => "–".into(),
            };
            let _ = write!(
                html,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td></tr>"#,
                escape(&event.received_at),
                escape(&event.gateway),
                escape(&event.event_id),
                escape(&event.donation_id),
                escape(&event.outcome),
                escape(&event.result),
                escape(&amount),
            );
        }
        html.push_str("</table>");
    }
    let _ = campaigns;
    html.push_str("</section>");
}

fn referrals(html: &mut String, dashboard: &Dashboard, campaigns: &Campaigns) {
    html.push_str(
        r#"<section id="referrals"><h2>Share links</h2><table><tr><th>Code</th><th>Campaign</th><th class="num">Clicks</th><th class="num">Gifts</th><th class="num">Conversion</th><th class="num">Raised</th></tr>"#,
    );
    for link in &dashboard.referrals {
        let conversion = (link.clicks > 0).then(|| link.donations as f64 / link.clicks as f64);
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(&link.code),
            escape(&link.campaign),
            link.clicks,
            link.donations,
            percent(conversion),
            money(campaigns, &link.campaign, link.raised_minor),
        );
    }
    html.push_str("</table></section>");
}

fn system(html: &mut String, dashboard: &Dashboard) {
    let system = &dashboard.system;
    let requests = &system.requests;
    let database = if system.database_reachable {
        r#"<span class="ok">reachable</span>"#
    } else {
        r#"<span class="bad">unreachable</span>"#
    };
    let _ = write!(
        html,
        r#"<section id="system"><h2>System</h2><div class="figures">
<div class="figure">Requests/s (since start)<strong>{rate:.1}</strong></div><div class="figure">Server errors<strong>{errors:.2}%</strong></div>
<div class="figure">Latency p50 / p90 / p99<strong>{p50} / {p90} / {p99} ms</strong></div><div class="figure">Totals age<strong>{age}</strong></div>
<div class="figure">Database<strong>{database}</strong></div><div class="figure">Up<strong>{uptime}s</strong></div></div></section>"#,
        rate = requests.requests_per_second,
        errors = requests.error_rate * 100.0,
        p50 = requests.p50_ms,
        p90 = requests.p90_ms,
        p99 = requests.p99_ms,
        age = system.totals_age_ms.map_or_else(|| "–".into(), |ms| format!("{ms} ms")),
        uptime = requests.uptime_seconds,
    );
}
