//! The `pledge` command: parses arguments, sets up logging, and hands each subcommand to the
//! `generator` or `api` library. The only place where the two are wired together.

mod serve;
mod telemetry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use generator::{BuildOptions, CampaignProgress, SitePaths};

#[derive(Parser)]
#[command(name = "pledge", version, about = "A fundraising site that survives launch day")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the site, serve it with the API and the sandbox gateway, rebuild on changes.
    Serve {
        /// The project root: `site/config.toml` with `content/` and `themes/`, or a Zola site.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// Defaults to an SQLite file under `<root>/.pledge/`.
        #[arg(long)]
        database_url: Option<String>,
        /// Defaults to `<root>/.pledge/public`, so a dev build never lands where deploys read.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
    /// Build the site for production into its output folder (atomically).
    Build {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Overrides `base_url` from the config.
        #[arg(long)]
        base_url: Option<String>,
        /// A running API to read the totals shown in the pages from (its base URL).
        #[arg(long)]
        totals_from: Option<String>,
        #[arg(long)]
        drafts: bool,
    },
    /// Check content, templates and internal links without writing anything.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Run the API alone, for production. Settings come from PLEDGE_* variables and `--config`.
    Api {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "PLEDGE_DATABASE_URL")]
        database_url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(matches!(cli.command, Command::Api { .. }) || std::env::var_os("PLEDGE_LOG_JSON").is_some());
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { root, bind, database_url, output_dir } => {
            let paths = SitePaths::detect(&root).with_output(output_dir.unwrap_or_else(|| root.join(".pledge/public")));
            let database_url = match database_url {
                Some(url) => url,
                None => {
                    std::fs::create_dir_all(root.join(".pledge")).context("creating .pledge/")?;
                    format!("sqlite:{}", root.join(".pledge/pledge.db").display())
                }
            };
            runtime()?.block_on(serve::serve(paths, &bind, &database_url))
        }
        Command::Build { root, output_dir, base_url, totals_from, drafts } => {
            let mut paths = SitePaths::detect(&root);
            if let Some(output) = output_dir {
                paths = paths.with_output(output);
            }
            let progress = match totals_from {
                Some(api) => runtime()?.block_on(fetch_progress(&paths.config, &api))?,
                None => BTreeMap::new(),
            };
            let options = BuildOptions { base_url, include_drafts: drafts, progress, ..BuildOptions::default() };
            let started = std::time::Instant::now();
            let report = generator::build(&paths, &options)?;
            println!(
                "Built {} pages and {} sections ({} files) into {} in {} ms",
                report.pages,
                report.sections,
                report.files,
                paths.output.display(),
                started.elapsed().as_millis()
            );
            Ok(())
        }
        Command::Check { root } => {
            let paths = SitePaths::detect(&root);
            let (_, report) = generator::render_site(&paths, &BuildOptions::default())?;
            println!("No problems: {} pages, {} sections", report.pages, report.sections);
            Ok(())
        }
        Command::Api { config } => {
            let settings = api::Settings::load(config.as_deref())?;
            // Defaults derived from the bind address are right for `serve`, never in production:
            // gateways would call back to 0.0.0.0 and donors would land on the API, not the site.
            anyhow::ensure!(
                settings.public_url.is_some() && settings.site_url.is_some(),
                "set PLEDGE_PUBLIC_URL (where gateways reach the API) and PLEDGE_SITE_URL (where the pages are served)"
            );
            runtime()?.block_on(async {
                let app = api::Application::build(settings).await?;
                tracing::info!(port = app.port(), "API listening");
                app.run_until_stopped().await.context("server failed")
            })
        }
        Command::Migrate { database_url } => runtime()?.block_on(async {
            api::db::connect(&database_url).await?;
            println!("Migrations applied.");
            Ok(())
        }),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Reads each campaign's totals from a running API, so a production build shows current numbers.
async fn fetch_progress(config: &Path, api: &str) -> anyhow::Result<BTreeMap<String, CampaignProgress>> {
    let campaigns = campaigns::Campaigns::load(config)?;
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
    let mut progress = BTreeMap::new();
    for campaign in campaigns.iter() {
        let url = format!("{}/api/v1/campaigns/{}/totals", api.trim_end_matches('/'), campaign.slug);
        let totals: serde_json::Value =
            client.get(&url).send().await?.error_for_status()?.json().await.with_context(|| url.clone())?;
        let number = |name: &str| {
            totals.get(name).and_then(serde_json::Value::as_i64).with_context(|| format!("{url}: no `{name}`"))
        };
        progress.insert(
            campaign.slug.clone(),
            CampaignProgress { raised_minor: number("raised_minor")?, donors: number("donors")? },
        );
    }
    Ok(progress)
}
