//! `pledge deploy` on the reference site as `pledge build` writes it: releases with rollback, an
//! object-store folder that receives only what changed, and S3 (moto) configured from `AWS_*`.

#[path = "../deploy/tests/common/moto.rs"]
mod moto;

use std::path::Path;
use std::process::{Command, Output};

use generator::postprocess::{ASSET_CACHE_CONTROL, HTML_CACHE_CONTROL};
use moto::{Moto, header};

fn pledge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pledge")).args(args).output().expect("the pledge binary runs")
}

fn succeeds(args: &[&str]) -> String {
    checked(pledge(args), args)
}

fn checked(output: Output, args: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pledge {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let output = pledge(args);
    assert!(!output.status.success(), "pledge {args:?} should have failed");
    String::from_utf8(output.stderr).unwrap()
}

/// Builds the reference site into `dir/public` and returns that path.
fn build_reference_site(dir: &Path) -> String {
    let output = dir.join("public").to_str().unwrap().to_owned();
    let printed = succeeds(&["build", "--root", env!("CARGO_MANIFEST_DIR"), "--output-dir", &output]);
    // The timing summary names every stage of a production build, in pipeline order.
    let summary = printed.lines().last().unwrap_or_default();
    let stages: Vec<&str> = summary.split(" · ").filter_map(|part| part.strip_suffix(" ms")).collect();
    let names: Vec<&str> = stages.iter().filter_map(|stage| stage.split_once(' ')).map(|(name, _)| name).collect();
    assert_eq!(names, ["load", "resolve", "render", "optimise", "postprocess", "precompress", "write"], "{printed}");
    output
}

#[test]
fn the_reference_site_deploys_as_releases_links_unchanged_files_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let output = build_reference_site(dir.path());
    let www = dir.path().join("www");
    let www = www.to_str().unwrap();

    let first = succeeds(&["deploy", "--output-dir", &output, "--to", www]);
    let second = succeeds(&["deploy", "--output-dir", &output, "--to", www, "--keep", "2"]);

    assert!(first.starts_with("Released "), "{first}");
    assert!(first.contains(" 0 files linked"), "nothing to link the first time: {first}");
    assert!(second.contains(" 0 copied"), "an identical build is all hard links: {second}");
    let served = std::fs::read_to_string(Path::new(www).join("current/index.html")).unwrap();
    assert_eq!(served, std::fs::read_to_string(Path::new(&output).join("index.html")).unwrap());
    assert!(Path::new(www).join("current/index.html.br").exists(), "precompressed copies are deployed");

    let rollback = succeeds(&["deploy", "--to", www, "--rollback"]);
    assert!(rollback.starts_with("Rolled back from "), "{rollback}");
    let again = fails(&["deploy", "--to", www, "--rollback"]);
    assert!(again.contains("no release before"), "{again}");
}

#[test]
fn the_reference_site_uploads_to_an_object_store_folder_then_sends_nothing_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let output = build_reference_site(dir.path());
    let bucket = url::Url::from_directory_path(dir.path().join("bucket")).unwrap();

    let first = succeeds(&["deploy", "--output-dir", &output, "--to", bucket.as_str()]);
    let second = succeeds(&["deploy", "--output-dir", &output, "--to", bucket.as_str(), "--prune"]);

    assert!(first.starts_with("Uploaded ") && first.contains(" changed files and the manifest"), "{first}");
    assert!(second.starts_with("Uploaded 0 changed files (0 B)"), "{second}");
    assert!(second.contains(", 0 pruned"), "{second}");
    let manifest = std::fs::read(dir.path().join("bucket/_manifest.json")).unwrap();
    assert_eq!(manifest, std::fs::read(Path::new(&output).join("_manifest.json")).unwrap());
}

#[test]
fn deploy_refuses_a_build_edited_after_the_fact_and_options_that_do_not_fit_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let output = build_reference_site(dir.path());
    let www = dir.path().join("www");
    let www = www.to_str().unwrap();
    std::fs::write(Path::new(&output).join("robots.txt"), "User-agent: *\nDisallow: /\n").unwrap();

    let edited = fails(&["deploy", "--output-dir", &output, "--to", www]);
    let prune = fails(&["deploy", "--output-dir", &output, "--to", www, "--prune"]);

    assert!(edited.contains("`robots.txt` does not match _manifest.json"), "{edited}");
    assert!(!Path::new(www).exists(), "nothing was deployed");
    assert!(prune.contains("--prune is for object stores"), "{prune}");
}

#[tokio::test]
async fn the_reference_site_uploads_to_s3_configured_from_the_environment_with_the_generator_cache_rules() {
    let Some(moto) = Moto::start_or_skip().await else { return };
    let bucket = format!("pledge-site-{}", std::process::id());
    moto.create_bucket(&bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let output = build_reference_site(dir.path());
    let to = format!("s3://{bucket}/www");
    let args = ["deploy", "--output-dir", &output, "--to", &to];
    let deploy = || Command::new(env!("CARGO_BIN_EXE_pledge")).args(args).envs(moto.env()).output().unwrap();

    let first = checked(deploy(), &args);
    let second = checked(deploy(), &args);

    assert!(first.contains(" changed files and the manifest") && first.contains(", 0 unchanged"), "{first}");
    assert!(second.starts_with("Uploaded 0 changed files"), "{second}");
    let page = moto.get(&bucket, "www/ar/index.html").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), HTML_CACHE_CONTROL);
    let built = std::fs::read(Path::new(&output).join("ar/index.html")).unwrap();
    assert_eq!(page.bytes().await.unwrap(), built);
    let style = moto.get(&bucket, "www/style.css.br").await;
    assert_eq!(header(&style, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&style, "content-encoding"), "br");
    assert_eq!(header(&style, "cache-control"), ASSET_CACHE_CONTROL);
}
