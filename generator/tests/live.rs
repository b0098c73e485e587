//! `pledge serve`'s rebuilds (`generator::live`) on a copy of the Zola fixture site: after an
//! edit to a body only the files that showed it are rendered again, and the output is byte for
//! byte what a full build of the edited site writes; every other change builds in full.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use generator::live::{LiveBuild, Rebuilt};
use generator::{BuildOptions, SitePaths};

struct Site {
    dir: tempfile::TempDir,
    paths: SitePaths,
    live: LiveBuild,
}

/// What the dev server asks for.
fn options() -> BuildOptions {
    BuildOptions { base_url: Some("http://127.0.0.1:8080".into()), live_reload: true, ..BuildOptions::default() }
}

impl Site {
    /// A copy of the fixture, built once in full.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zola-site");
        copy_tree(&fixture, &dir.path().join("site"));
        let paths = SitePaths::detect(&dir.path().join("site")).with_output(dir.path().join("public"));
        let mut live = LiveBuild::new(paths.clone());
        assert!(matches!(live.rebuild(&[], &options()).unwrap(), Rebuilt::Full(_)));
        Self { dir, paths, live }
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.paths.root().join(relative)
    }

    /// Replaces `from` with `to` in a source file and rebuilds.
    fn edit(&mut self, relative: &str, from: &str, to: &str) -> Result<Rebuilt, generator::BuildError> {
        let file = self.file(relative);
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains(from), "{relative} has no `{from}`");
        fs::write(&file, text.replacen(from, to, 1)).unwrap();
        self.live.rebuild(&[file], &options())
    }

    fn output(&self) -> BTreeMap<String, Vec<u8>> {
        files_under(&self.paths.output)
    }

    /// The output a full build of the sources as they are now writes.
    fn full_build(&self) -> BTreeMap<String, Vec<u8>> {
        let output = self.dir.path().join("full");
        generator::build(&self.paths.clone().with_output(output.clone()), &options()).unwrap();
        files_under(&output)
    }

    fn assert_same_as_full_build(&self) {
        let (live, full) = (self.output(), self.full_build());
        assert_eq!(live.keys().collect::<Vec<_>>(), full.keys().collect::<Vec<_>>(), "the same files");
        for (path, bytes) in &full {
            assert!(
                live[path] == *bytes,
                "{path} differs from a full build's:\n{}",
                String::from_utf8_lossy(&live[path])
            );
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn html_files(files: &BTreeMap<String, Vec<u8>>) -> usize {
    files.keys().filter(|path| path.ends_with(".html")).count()
}

#[test]
fn a_body_edit_renders_only_what_showed_it_and_writes_what_a_full_build_writes() {
    let mut site = Site::new();
    let before = site.output();
    // New words for the page, its neighbours, its section's pager, its terms, the feeds, the
    // search index and the home page (through get_section); a new link gives post 1 a backlink.
    let opening = "Rewritten opening of post 2, after [the first](@/blog/post-1.md).";
    let rebuilt = site.edit("content/blog/post-2.md", "First paragraph of post 2.", opening).unwrap();
    let Rebuilt::Edits { rendered, written } = rebuilt else { panic!("a body edit built in full: {rebuilt:?}") };
    assert!(rendered > 1 && rendered < html_files(&before), "rendered {rendered} of {} pages", html_files(&before));
    assert!(written > 2 && written <= rendered + 2, "wrote {written} files for {rendered} renders");
    let after = site.output();
    let post = String::from_utf8_lossy(&after["blog/post-2/index.html"]).into_owned();
    assert!(post.contains("Rewritten opening of post 2"), "{post}");
    let backlink = "class=\"backlink\" href=\"http://127.0.0.1:8080/blog/post-2/\"";
    let linked = |files: &BTreeMap<String, Vec<u8>>| {
        String::from_utf8_lossy(&files["blog/post-1/index.html"]).contains(backlink)
    };
    assert!(!linked(&before) && linked(&after), "post 1 lists post 2 among its backlinks");
    site.assert_same_as_full_build();

    // Saving again without a change renders the same files and writes none.
    let rebuilt = site.edit("content/blog/post-2.md", "Rewritten", "Rewritten").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Edits { written: 0, .. }), "{rebuilt:?}");
}

#[test]
fn a_section_body_edit_is_an_edit_too() {
    let mut site = Site::new();
    let rebuilt = site.edit("content/docs/_index.md", "+++\n", "+++\n").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Edits { .. }), "{rebuilt:?}");
    let text = fs::read_to_string(site.file("content/docs/_index.md")).unwrap();
    fs::write(site.file("content/docs/_index.md"), format!("{text}\nMore about the docs.\n")).unwrap();
    let rebuilt = site.live.rebuild(&[site.file("content/docs/_index.md")], &options()).unwrap();
    assert!(matches!(rebuilt, Rebuilt::Edits { written: 1.., .. }), "{rebuilt:?}");
    site.assert_same_as_full_build();
}

#[test]
fn a_new_title_or_description_renders_what_shows_it() {
    let mut site = Site::new();
    // Post 2's title is in its neighbours, its pagers, its terms, the home page and the feeds,
    // and in the backlinks of post 1, which it links to once edited.
    site.edit("content/blog/post-2.md", "First paragraph of post 2.", "See [the first](@/blog/post-1.md).").unwrap();
    let rebuilt = site.edit("content/blog/post-2.md", "title = \"Post 2\"", "title = \"Second post\"").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Edits { .. }), "{rebuilt:?}");
    let post_1 = String::from_utf8_lossy(&site.output()["blog/post-1/index.html"]).into_owned();
    assert!(post_1.contains(">Second post</a>"), "{post_1}");
    site.assert_same_as_full_build();

    let rebuilt =
        site.edit("content/blog/post-3.md", "description = \"Number *3*\"", "description = \"Third\"").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Edits { .. }), "{rebuilt:?}");
    let rebuilt = site.edit("content/docs/_index.md", "+++\n", "+++\ndescription = \"All the docs\"\n").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Edits { .. }), "{rebuilt:?}");
    site.assert_same_as_full_build();
}

#[test]
fn dates_templates_and_new_files_build_in_full() {
    let mut site = Site::new();
    let rebuilt = site.edit("content/blog/post-2.md", "2024-01-02T10:00:00Z", "2024-01-09T10:00:00Z").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Full(_)), "a new date reorders the blog: {rebuilt:?}");
    site.assert_same_as_full_build();

    let rebuilt = site.edit("templates/page.html", "{{ page.title }}", "{{ page.title | upper }}").unwrap();
    assert!(matches!(rebuilt, Rebuilt::Full(_)), "{rebuilt:?}");
    site.assert_same_as_full_build();

    // A template gone: the tag pages fall back to `taxonomy_single.html`.
    let gone = site.file("templates/tags/single.html");
    fs::remove_file(&gone).unwrap();
    assert!(matches!(site.live.rebuild(&[gone], &options()).unwrap(), Rebuilt::Full(_)));
    site.assert_same_as_full_build();

    let new = site.file("content/blog/post-6.md");
    fs::write(&new, "+++\ntitle = \"Post 6\"\ndate = 2024-02-06\n+++\nSix.\n").unwrap();
    assert!(matches!(site.live.rebuild(&[new], &options()).unwrap(), Rebuilt::Full(_)));
    site.assert_same_as_full_build();
}

#[test]
fn a_broken_edit_fails_and_leaves_the_output_until_it_is_fixed() {
    let mut site = Site::new();
    let before = site.output();
    let link = "First paragraph of post 3, see [details](@/blog/post-2.md#nope).";
    let error = site.edit("content/blog/post-3.md", "First paragraph of post 3.", link);
    let error = error.map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("post-3.md:") && error.contains("no heading with the id `nope`"), "{error}");
    assert!(site.output() == before, "a failed rebuild writes nothing");

    site.edit("content/blog/post-3.md", "#nope", "#details-of-2").unwrap();
    site.assert_same_as_full_build();
    // The heading post-3 links to goes: the link in the file that was not edited breaks.
    let error = site.edit("content/blog/post-2.md", "## Details of 2", "## Particulars").map(|_| ()).unwrap_err();
    assert!(error.to_string().contains("post-3.md:"), "{error}");
}

#[test]
fn an_anchor_an_image_names_is_checked_again_when_its_heading_goes() {
    let mut site = Site::new();
    let image = "First paragraph of post 4. ![A chart](@/blog/post-2.md#details-of-2)";
    assert!(matches!(
        site.edit("content/blog/post-4.md", "First paragraph of post 4.", image).unwrap(),
        Rebuilt::Edits { .. }
    ));
    let error = site.edit("content/blog/post-2.md", "## Details of 2", "## Particulars").map(|_| ()).unwrap_err();
    assert!(error.to_string().contains("post-4.md:"), "{error}");
}

#[test]
fn an_editors_temporary_file_that_came_and_went_changes_nothing() {
    let mut site = Site::new();
    let before = site.output();
    let gone = site.file("content/blog/.post-2.md.swp");
    assert_eq!(site.live.rebuild(&[gone], &options()).unwrap(), Rebuilt::Edits { rendered: 0, written: 0 });
    assert!(site.output() == before);
}
