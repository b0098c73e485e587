//! Load scenarios for a running Pledge stack, driven by goose. Every transaction checks what it
//! got, not only the status: a 200 with the wrong body is a failure.
//!
//! - `Visitor`: the home page and its assets, then a totals poll every few seconds with
//!   `If-None-Match`, as the page's script does.
//! - `Donor`: the donate page, the form post, the sandbox hosted page, paying, the return and
//!   the thank-you page (the gateway's notification follows on the server).
//! - `Sharer`: a followed share link (`/r/{code}`), landing on the site with `?ref=`.
//!
//! Goose's own options choose users, rates and run time; a launch spike is a test plan that
//! goes from idle to peak in seconds (`--test-plan "2000,5s;2000,1m;0,5s"`). `--max-error-rate`
//! and `--max-p99-ms` make the run fail (exit 1) when a limit is broken. See BENCHMARKS.md.

mod checks;
mod scenarios;

use std::time::Duration;

use clap::Parser;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use scenarios::{follow_share_link, give, make_share_link, open_home_page, poll_totals};

pub use checks::Verdict;

#[derive(Parser)]
#[command(about = "Load tests for a Pledge stack")]
pub struct Cli {
    /// Fail when more than this share of requests failed (0.01 = 1%).
    #[arg(long, value_name = "SHARE")]
    max_error_rate: Option<f64>,
    /// Fail when any request type's 99th percentile is slower than this.
    #[arg(long, value_name = "MS")]
    max_p99_ms: Option<u64>,
    /// The campaign the scenarios give to and poll.
    #[arg(long, default_value = "clean-water")]
    campaign: String,
    #[command(flatten)]
    goose: GooseConfiguration,
}

/// Runs the scenarios as the command line says and judges the run against its limits.
pub async fn run(cli: Cli) -> Result<Verdict, GooseError> {
    scenarios::set_campaign(&cli.campaign);
    let metrics = attack(cli.goose).await?;
    Ok(checks::Limits { max_error_rate: cli.max_error_rate, max_p99_ms: cli.max_p99_ms }.judge(&metrics))
}

async fn attack(configuration: GooseConfiguration) -> Result<GooseMetrics, GooseError> {
    GooseAttack::initialize_with_config(configuration)?
        .register_scenario(
            scenario!("Visitor")
                .set_weight(90)?
                .set_wait_time(Duration::from_secs(2), Duration::from_secs(5))?
                .register_transaction(transaction!(open_home_page).set_on_start().set_name("home page"))
                .register_transaction(transaction!(poll_totals).set_name("totals poll")),
        )
        .register_scenario(
            scenario!("Donor")
                .set_weight(5)?
                .set_wait_time(Duration::from_secs(1), Duration::from_secs(3))?
                .register_transaction(transaction!(give).set_name("give")),
        )
        .register_scenario(
            scenario!("Sharer")
                .set_weight(5)?
                .set_wait_time(Duration::from_secs(1), Duration::from_secs(3))?
                .register_transaction(transaction!(make_share_link).set_on_start().set_name("share link"))
                .register_transaction(transaction!(follow_share_link).set_name("follow share link")),
        )
        .execute()
        .await
}
