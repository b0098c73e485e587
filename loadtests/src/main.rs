//! Load scenarios for a running Pledge stack, driven by goose. Every transaction checks what it
//! got, not only the status: a 200 with the wrong body is a failure.
//!
//! `cargo run --release -p loadtests -- --host http://127.0.0.1:8080 --users 64 --run-time 30s`

use std::time::Duration;

use goose::prelude::*;

const CAMPAIGN: &str = "clean-water";

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(
            scenario!("Visitor")
                .set_wait_time(Duration::from_secs(2), Duration::from_secs(5))?
                .register_transaction(transaction!(open_home_page).set_on_start().set_name("home page"))
                .register_transaction(transaction!(poll_totals).set_name("totals poll")),
        )
        .execute()
        .await?;
    Ok(())
}

/// The home page, with its build-time progress block.
async fn open_home_page(user: &mut GooseUser) -> TransactionResult {
    let mut goose = user.get("/").await?;
    let body = match goose.response {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => return Ok(()),
    };
    if !body.contains(&format!("data-campaign=\"{CAMPAIGN}\"")) {
        return user.set_failure("home page lacks the progress block", &mut goose.request, None, Some(&body));
    }
    Ok(())
}

/// What the page's script does every few seconds. The check is on the JSON, so a broken
/// snapshot counts as an error even when the status is 200.
async fn poll_totals(user: &mut GooseUser) -> TransactionResult {
    let mut goose = user.get(&format!("/api/v1/campaigns/{CAMPAIGN}/totals")).await?;
    let body = match goose.response {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => return Ok(()),
    };
    let totals: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if totals["campaign"] != CAMPAIGN || !totals["raised_minor"].is_i64() {
        return user.set_failure("totals are not a totals document", &mut goose.request, None, Some(&body));
    }
    Ok(())
}
