//! A few seconds of every load scenario against a real `pledge serve`, so the scenarios never
//! rot: they must run, make requests of every kind, and see no errors.

mod common;

use clap::Parser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_load_scenario_runs_clean_against_pledge_serve() {
    let served = common::serve(&common::project_root());
    let host = served.url.as_str().trim_end_matches('/');
    let cli = loadtests::Cli::try_parse_from([
        "loadtests",
        "--host",
        host,
        "--users",
        "12",
        "--increase-rate",
        "12",
        "--run-time",
        "4s",
        "--no-reset-metrics",
        "--quiet",
        "--no-print-metrics",
        "--max-error-rate",
        "0",
    ])
    .expect("valid arguments");

    let verdict = loadtests::run(cli).await.expect("the load test runs");

    let report = verdict.lines.join("\n");
    assert!(verdict.passed, "{report}");
    for request in ["GET /", "GET asset", "GET totals", "POST /api/v1/donations", "POST /sandbox/pay", "GET /r/{code}"]
    {
        assert!(report.contains(&format!("{request}:")), "no `{request}` requests in:\n{report}");
    }
}
