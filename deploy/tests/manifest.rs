//! `Manifest`: the exact `_manifest.json` format the generator writes, and what `verify` reports.

mod common;

use common::Site;
use deploy::{DeployError, Manifest};

#[test]
fn a_scanned_manifest_lists_every_file_but_itself_sorted_with_slashes() {
    let site = Site::new();
    let manifest = Manifest::scan(&site.path).unwrap();

    let paths: Vec<&str> = manifest.files.keys().map(String::as_str).collect();
    let expected: Vec<&str> = common::FILES.iter().map(|(path, _)| *path).collect();
    assert_eq!(paths, expected);
    let json = String::from_utf8(manifest.to_json()).unwrap();
    assert!(json.starts_with(r#"{"version":1,"files":{"404.html":{"sha256":""#), "{json}");
    assert!(json.contains(r#""about/index.html":{"sha256":""#), "{json}");
    // SHA-256 of `body{color:#222}` (16 bytes), as `sha256sum` prints it.
    let style =
        r#""style.css":{"sha256":"2b64f6b6da68bc06941073538447a346c34aefe60b758be245d0de30e0d0df41","size":16}"#;
    assert!(json.contains(style), "{json}");
    assert_eq!(Manifest::from_json(json.as_bytes(), "test").unwrap(), manifest, "it reads back");
}

#[test]
fn a_matching_folder_verifies() {
    let site = Site::new();
    Manifest::read(&site.path).unwrap().verify(&site.path).unwrap();
}

#[test]
fn verify_names_the_first_mismatching_file_and_why() {
    // (case, change after the build, file named, problem named)
    type Case = (&'static str, fn(&Site), &'static str, &'static str);
    let cases: &[Case] = &[
        ("changed content", |site| site.write("app.js", "console.log('others')"), "app.js", "SHA-256 differs"),
        ("changed size", |site| site.write("app.js", "x"), "app.js", "1 bytes on disk, 21 listed"),
        ("missing file", |site| site.remove("images/logo.svg"), "images/logo.svg", "listed but missing"),
        ("extra file", |site| site.write("about/extra.html", "x"), "about/extra.html", "present but not listed"),
    ];
    for (case, change, file, problem) in cases {
        let site = Site::new();
        let manifest = Manifest::read(&site.path).unwrap();
        change(&site);
        let error = manifest.verify(&site.path).unwrap_err();
        let DeployError::Mismatch { file: found, problem: found_problem, .. } = &error else {
            panic!("{case}: {error}");
        };
        assert_eq!(found, file, "{case}");
        assert!(found_problem.contains(problem), "{case}: {error}");
    }
}

#[test]
fn manifests_with_unsafe_paths_or_bad_hashes_are_refused() {
    let hash = "0".repeat(64);
    let cases = [
        (format!(r#"{{"version":1,"files":{{"../etc/passwd":{{"sha256":"{hash}","size":1}}}}}}"#), "unsafe path"),
        (format!(r#"{{"version":1,"files":{{"/index.html":{{"sha256":"{hash}","size":1}}}}}}"#), "unsafe path"),
        (format!(r#"{{"version":1,"files":{{"a//b":{{"sha256":"{hash}","size":1}}}}}}"#), "unsafe path"),
        (r#"{"version":1,"files":{"a":{"sha256":"ABC","size":1}}}"#.to_owned(), "64 lower-case hex"),
        (r#"{"version":2,"files":{}}"#.to_owned(), "version 2"),
        (r#"{"version":1,"files":{},"extra":true}"#.to_owned(), "unknown field"),
    ];
    for (json, reason) in cases {
        let error = Manifest::from_json(json.as_bytes(), "remote").unwrap_err();
        assert!(error.to_string().contains(reason), "{json}: {error}");
    }
}
