//! Release folders: copies into timestamped releases, the `current` switch, hard links for
//! unchanged files, keeping N releases, rollback, and refusing folders that fail their manifest.

mod common;

use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Site, snapshot};
use deploy::{DeployError, Releases};

const KEEP: NonZeroUsize = NonZeroUsize::new(5).unwrap();

fn at(seconds: u64) -> SystemTime {
    // 2026-12-02T08:15:00Z plus `seconds`.
    UNIX_EPOCH + Duration::from_secs(1_796_199_300 + seconds)
}

fn target() -> (tempfile::TempDir, Releases) {
    let dir = tempfile::tempdir().unwrap();
    let releases = Releases::new(dir.path().join("www"));
    (dir, releases)
}

fn current_link(releases: &Releases) -> std::path::PathBuf {
    std::fs::read_link(releases.root().join("current")).unwrap()
}

#[test]
fn deploying_twice_makes_two_releases_and_current_points_to_the_newest() {
    let site = Site::new();
    let (_dir, releases) = target();

    let first = releases.deploy_at(&site.path, KEEP, at(0)).unwrap();
    site.edit_page("index.html", "<h1>Home, again</h1>");
    let second = releases.deploy_at(&site.path, KEEP, at(0)).unwrap();

    assert_eq!(first.release, "20261202T081500Z");
    assert_eq!(second.release, "20261202T081500Z-2", "a name taken in the same second gets a suffix");
    assert_eq!(releases.list().unwrap(), ["20261202T081500Z", "20261202T081500Z-2"]);
    assert_eq!(current_link(&releases), Path::new("releases/20261202T081500Z-2"), "relative link");
    let served = std::fs::read_to_string(releases.root().join("current/index.html")).unwrap();
    assert_eq!(served, "<h1>Home, again</h1>");
    assert_eq!(snapshot(&releases.root().join("current")), snapshot(&site.path), "the release is the whole output");
    let leftovers: Vec<_> = std::fs::read_dir(releases.root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary link left: {leftovers:?}");
}

#[test]
fn unchanged_files_are_hard_links_to_the_previous_release_and_changed_ones_are_copies() {
    let site = Site::new();
    let (_dir, releases) = target();
    let first = releases.deploy_at(&site.path, KEEP, at(0)).unwrap();
    site.edit_page("about/index.html", "<h1>About us</h1>");

    let second = releases.deploy_at(&site.path, KEEP, at(60)).unwrap();

    let inode = |release: &str, file: &str| std::fs::metadata(releases.release_dir(release).join(file)).unwrap().ino();
    assert_eq!(inode(&first.release, "style.css"), inode(&second.release, "style.css"));
    assert_eq!(inode(&first.release, "index.html.br"), inode(&second.release, "index.html.br"));
    assert_ne!(inode(&first.release, "about/index.html"), inode(&second.release, "about/index.html"));
    assert_eq!((first.linked, first.copied), (0, common::FILES.len()));
    assert_eq!((second.linked, second.copied), (common::FILES.len() - 3, 3), "the page and its .gz/.br");
    let old = std::fs::read_to_string(releases.release_dir(&first.release).join("about/index.html")).unwrap();
    assert!(old.contains("About</h1>"), "the old release keeps its own copy: {old}");
}

#[test]
fn rollback_points_current_to_the_previous_release() {
    let site = Site::new();
    let (_dir, releases) = target();
    let first = releases.deploy_at(&site.path, KEEP, at(0)).unwrap();
    site.edit_page("index.html", "<h1>Broken</h1>");
    let second = releases.deploy_at(&site.path, KEEP, at(60)).unwrap();

    let rollback = releases.rollback().unwrap();

    assert_eq!((rollback.from.as_str(), rollback.to.as_str()), (second.release.as_str(), first.release.as_str()));
    assert_eq!(releases.current().unwrap().as_deref(), Some(first.release.as_str()));
    let served = std::fs::read_to_string(releases.root().join("current/index.html")).unwrap();
    assert!(served.contains("Home"), "{served}");
    assert_eq!(releases.list().unwrap().len(), 2, "rolling back deletes nothing");
    assert!(rollback.to_string().contains(&format!("to {}", first.release)), "{rollback}");
}

#[test]
fn rollback_with_a_single_release_is_an_error_and_changes_nothing() {
    let site = Site::new();
    let (_dir, releases) = target();
    let only = releases.deploy_at(&site.path, KEEP, at(0)).unwrap();

    let error = releases.rollback().unwrap_err();

    assert!(matches!(&error, DeployError::NoEarlierRelease { current, .. } if *current == only.release), "{error}");
    assert!(error.to_string().contains("no release before 20261202T081500Z"), "{error}");
    assert_eq!(releases.current().unwrap(), Some(only.release));
}

#[test]
fn rollback_without_any_release_is_an_error() {
    let (_dir, releases) = target();
    assert!(matches!(releases.rollback(), Err(DeployError::NoCurrentRelease { .. })));
}

#[test]
fn rollback_refuses_an_earlier_release_that_no_longer_matches_its_manifest() {
    let site = Site::new();
    let (_dir, releases) = target();
    let first = releases.deploy_at(&site.path, KEEP, at(0)).unwrap();
    site.edit_page("index.html", "<h1>New</h1>");
    let second = releases.deploy_at(&site.path, KEEP, at(60)).unwrap();
    std::fs::remove_file(releases.release_dir(&first.release).join("app.js")).unwrap();

    let error = releases.rollback().unwrap_err();

    assert!(matches!(&error, DeployError::Mismatch { file, .. } if file == "app.js"), "{error}");
    assert_eq!(releases.current().unwrap(), Some(second.release));
}

#[test]
fn keeping_n_releases_removes_the_oldest_and_never_the_current_one() {
    let site = Site::new();
    let (_dir, releases) = target();
    let keep = NonZeroUsize::new(2).unwrap();
    for minute in 1..=3 {
        releases.deploy_at(&site.path, keep, at(minute * 60)).unwrap();
    }
    assert_eq!(releases.list().unwrap(), ["20261202T081700Z", "20261202T081800Z"], "the oldest of three went");

    // A clock set back names the new release before the others: it is current, so it stays.
    let keep_one = NonZeroUsize::new(1).unwrap();
    let report = releases.deploy_at(&site.path, keep_one, at(0)).unwrap();

    assert_eq!(report.release, "20261202T081500Z");
    assert_eq!(report.removed, ["20261202T081700Z"]);
    assert_eq!(releases.list().unwrap(), ["20261202T081500Z", "20261202T081800Z"]);
    assert_eq!(releases.current().unwrap().as_deref(), Some("20261202T081500Z"));
}

#[test]
fn a_folder_that_does_not_match_its_manifest_is_refused_and_the_target_is_unchanged() {
    let site = Site::new();
    let (_dir, releases) = target();
    releases.deploy_at(&site.path, KEEP, at(0)).unwrap();
    let before = snapshot(releases.root());
    site.write("style.css", "body{color:red}");

    let error = releases.deploy_at(&site.path, KEEP, at(60)).unwrap_err();

    assert!(matches!(&error, DeployError::Mismatch { file, .. } if file == "style.css"), "{error}");
    assert!(error.to_string().contains("`style.css` does not match _manifest.json"), "{error}");
    assert_eq!(snapshot(releases.root()), before);
}

#[test]
fn a_file_the_manifest_does_not_list_is_refused_by_name() {
    let site = Site::new();
    let (_dir, releases) = target();
    site.write("stray.txt", "left by hand");

    let error = releases.deploy_at(&site.path, KEEP, at(0)).unwrap_err();

    assert!(error.to_string().contains("`stray.txt` does not match _manifest.json: present but not listed"), "{error}");
    assert!(!releases.root().exists(), "nothing was created");
}

#[test]
fn a_folder_without_a_manifest_is_refused() {
    let site = Site::new();
    site.remove("_manifest.json");
    let (_dir, releases) = target();

    let error = releases.deploy_at(&site.path, KEEP, at(0)).unwrap_err();

    assert!(matches!(error, DeployError::NoManifest { .. }), "{error}");
    assert!(!releases.root().exists());
}

#[test]
fn a_current_that_is_a_real_folder_is_not_replaced() {
    let site = Site::new();
    let (_dir, releases) = target();
    std::fs::create_dir_all(releases.root().join("current")).unwrap();
    std::fs::write(releases.root().join("current/index.html"), "hand-made").unwrap();

    let error = releases.deploy_at(&site.path, KEEP, at(0)).unwrap_err();

    assert!(matches!(error, DeployError::CurrentNotALink { .. }), "{error}");
    assert_eq!(std::fs::read_to_string(releases.root().join("current/index.html")).unwrap(), "hand-made");
}
