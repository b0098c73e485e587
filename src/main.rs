//! The `pledge` command: parses arguments, sets up logging, and hands each subcommand to the
//! `generator` or `api` library. The only place where the two are wired together.

mod link_check;
mod live_check;
mod serve;
mod telemetry;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use generator::{BuildOptions, CampaignProgress, SitePaths, Stage};

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
        /// Skips the `.br` and `.gz` files beside each text file (Brotli at its densest setting
        /// is most of a cold build's time); for builds that a CDN compresses itself.
        #[arg(long)]
        no_precompress: bool,
        /// Leaves HTML, CSS and JS as the templates and static files wrote them.
        #[arg(long)]
        no_minify: bool,
        /// Keeps every asset under its own name only (no content-hashed copies, references
        /// untouched), for hosts that cannot give those copies a long cache life.
        #[arg(long)]
        no_fingerprint: bool,
    },
    /// Check content, templates and internal links without writing anything; or, with
    /// `--live`, check that a deployed site and its API answer (an uptime check for a timer).
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Also request every link to another site (`[link_checker] skip_prefixes` are not;
        /// `external_level = "warn"` reports broken ones without failing).
        #[arg(long, conflicts_with = "live")]
        external_links: bool,
        /// The deployed site's URL: checks its home page, the API's readiness and every
        /// campaign's totals instead of the sources; exits non-zero with the reason.
        #[arg(long)]
        live: Option<url::Url>,
        /// The API's base URL, when it is not the site's.
        #[arg(long, requires = "live")]
        api: Option<url::Url>,
        /// How long each request may take.
        #[arg(long, default_value_t = 10)]
        timeout_seconds: u64,
    },
    /// Back the database up while the API runs (SQLite or PostgreSQL), keeping the newest N.
    Backup {
        #[arg(long, env = "PLEDGE_DATABASE_URL")]
        database_url: String,
        /// The folder backups go to.
        #[arg(long)]
        to: PathBuf,
        #[arg(long, default_value_t = 14)]
        keep: usize,
    },
    /// Restore a backup made by `pledge backup` (stop the API first).
    Restore {
        #[arg(long, env = "PLEDGE_DATABASE_URL")]
        database_url: String,
        /// The backup file (`pledge-….sqlite3` or `pledge-….pgdump`).
        file: PathBuf,
        /// Replace an existing SQLite database.
        #[arg(long)]
        force: bool,
    },
    /// Deploy what `pledge build` wrote (checked against its `_manifest.json`): a new release in a
    /// local folder with an atomic `current` switch, or the changed files to an object store.
    Deploy {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// The built site; defaults to the root's output folder (`site/public/`).
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// A folder of releases, `s3://bucket/prefix` (credentials and endpoint from AWS_*), or
        /// `file:///abs/path` (object-store layout in a folder).
        #[arg(long)]
        to: String,
        /// Releases a folder keeps (default 5); the one `current` points to is never deleted.
        #[arg(long)]
        keep: Option<std::num::NonZeroUsize>,
        /// Object stores: delete objects under the prefix that the site no longer has.
        #[arg(long)]
        prune: bool,
        /// Folders: point `current` back to the release before it.
        #[arg(long, conflicts_with_all = ["output_dir", "prune", "keep"])]
        rollback: bool,
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
    let _telemetry =
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
        Command::Build {
            root,
            output_dir,
            base_url,
            totals_from,
            drafts,
            no_precompress,
            no_minify,
            no_fingerprint,
        } => {
            let mut paths = SitePaths::detect(&root);
            if let Some(output) = output_dir {
                paths = paths.with_output(output);
            }
            let progress = match totals_from {
                Some(api) => runtime()?.block_on(fetch_progress(&paths.config, &api))?,
                None => BTreeMap::new(),
            };
            let options = BuildOptions {
                base_url,
                include_drafts: drafts,
                progress,
                precompress: !no_precompress,
                minify: !no_minify,
                fingerprint: !no_fingerprint,
                // Where a person watches, each stage says what it is doing; logs get the summary.
                on_stage: std::io::stderr().is_terminal().then_some(print_stage as fn(Stage, usize)),
                ..BuildOptions::default()
            };
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
            println!("{}", stage_summary(&report.stages));
            Ok(())
        }
        Command::Check { live: Some(site), api, timeout_seconds, .. } => {
            let api = api.unwrap_or_else(|| site.clone());
            runtime()?.block_on(live_check::check(&site, &api, std::time::Duration::from_secs(timeout_seconds)))
        }
        Command::Check { root, live: None, external_links, timeout_seconds, .. } => {
            let paths = SitePaths::detect(&root);
            let (site, report) = generator::render_site(&paths, &BuildOptions::default())?;
            println!("No problems: {} pages, {} sections", report.pages, report.sections);
            if external_links {
                check_external_links(&paths, &site, std::time::Duration::from_secs(timeout_seconds))?;
            }
            Ok(())
        }
        Command::Deploy { root, output_dir, to, keep, prune, rollback } => {
            let output = output_dir.unwrap_or_else(|| SitePaths::detect(&root).output);
            let target = deploy::Target::parse(&to)?;
            // The generator's cache rules, passed in: `deploy` does not depend on the generator.
            let cache_control = |path: &str| Some(generator::postprocess::cache_policy(path).to_owned());
            let options = deploy::DeployOptions { keep, prune, rollback, cache_control };
            println!("{}", runtime()?.block_on(deploy::run(&output, &target, &options))?);
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
        Command::Backup { database_url, to, keep } => runtime()?.block_on(async {
            let report = api::db::backup::backup(&database_url, &to, keep).await?;
            println!("Backed up to {} ({} bytes)", report.file.display(), report.bytes);
            for old in report.removed {
                println!("Removed {}", old.display());
            }
            Ok(())
        }),
        Command::Restore { database_url, file, force } => runtime()?.block_on(async {
            api::db::backup::restore(&database_url, &file, force).await?;
            // Migrations newer than the backup are applied now rather than at the API's start.
            api::db::connect(&database_url).await?;
            println!("Restored {}", file.display());
            Ok(())
        }),
        Command::Migrate { database_url } => runtime()?.block_on(async {
            api::db::connect(&database_url).await?;
            println!("Migrations applied.");
            Ok(())
        }),
    }
}

/// Requests every external link of the rendered site; broken ones fail the check unless
/// `[link_checker] external_level = "warn"`.
fn check_external_links(
    paths: &SitePaths,
    site: &generator::render::RenderedSite,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let (config, _) = generator::config::SiteConfig::load(&paths.config)?;
    let checker = &config.link_checker;
    let links = generator::check::external_links(site, &config.base_url, &checker.skip_prefixes);
    let checked = links.len();
    let broken = runtime()?.block_on(link_check::check(links, timeout))?;
    if broken.is_empty() {
        println!("All {checked} external links answer");
        return Ok(());
    }
    for link in &broken {
        let pages: Vec<&str> = link.pages.iter().map(String::as_str).collect();
        eprintln!("{}: {} (on {})", link.url, link.reason, pages.join(", "));
    }
    let summary = format!("{} of {checked} external links are broken", broken.len());
    if checker.external_level.as_deref() == Some("warn") {
        eprintln!("warning: {summary}");
        Ok(())
    } else {
        anyhow::bail!(summary)
    }
}

fn print_stage(stage: Stage, work: usize) {
    eprintln!("  {}…", stage.doing(work));
}

/// `load 12 ms · resolve 3 ms · render 410 ms · …`: where a build's time went.
fn stage_summary(stages: &[(Stage, std::time::Duration)]) -> String {
    let stages: Vec<String> =
        stages.iter().map(|(stage, elapsed)| format!("{} {} ms", stage.name(), elapsed.as_millis())).collect();
    stages.join(" · ")
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
