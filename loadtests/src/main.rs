//! `cargo run --release -p loadtests -- --host URL --users N --run-time 30s --no-reset-metrics`
//! (see the library's documentation and BENCHMARKS.md).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    match loadtests::run(loadtests::Cli::parse()).await {
        Ok(verdict) => {
            for line in &verdict.lines {
                println!("{line}");
            }
            if verdict.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("load test failed to run: {error}");
            ExitCode::FAILURE
        }
    }
}
