//! Object-store uploads on an in-memory store that records every call, and on a `file://` folder:
//! what is sent, in which order, with which attributes, and what `--prune` deletes.

mod common;

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{Site, is_page};
use deploy::{DeployError, MANIFEST_FILE, Manifest, ObjectTarget, Target, UploadOptions, upload};
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    Attribute, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};

/// An `InMemory` store that logs `put x` / `delete x` in call order and can fail one path's puts.
#[derive(Debug, Default)]
struct Recording {
    inner: InMemory,
    log: Mutex<Vec<String>>,
    fail_on: Mutex<Option<String>>,
}

impl fmt::Display for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recording")
    }
}

impl Recording {
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.log.lock().unwrap())
    }
}

#[async_trait]
impl ObjectStore for Recording {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if self.fail_on.lock().unwrap().as_deref() == Some(location.as_ref()) {
            return Err(object_store::Error::Generic { store: "Recording", source: "refused for the test".into() });
        }
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.log.lock().unwrap().push(format!("put {location}"));
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.log.lock().unwrap().push(format!("multipart {location}"));
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        self.log.lock().unwrap().push(format!("delete {location}"));
        self.inner.delete(location).await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.inner.copy(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.inner.copy_if_not_exists(from, to).await
    }
}

fn cache_policy(path: &str) -> Option<String> {
    Some(if path.ends_with(".html") { "html-policy" } else { "asset-policy" }.to_owned())
}

fn options(prune: bool) -> UploadOptions {
    UploadOptions { prune, cache_control: cache_policy, ..UploadOptions::default() }
}

fn recording_target() -> (Arc<Recording>, ObjectTarget) {
    let store = Arc::new(Recording::default());
    let target = ObjectTarget::new(store.clone(), "sites/pledge", "memory://sites/pledge");
    (store, target)
}

fn puts(log: &[String]) -> Vec<&str> {
    log.iter().filter_map(|line| line.strip_prefix("put sites/pledge/")).collect()
}

#[tokio::test]
async fn a_first_upload_sends_every_file_then_the_manifest() {
    let site = Site::new();
    let (store, target) = recording_target();

    let report = upload(&site.path, &target, &options(false)).await.unwrap();

    let log = store.take_log();
    assert_eq!(puts(&log).len(), common::FILES.len() + 1, "{log:?}");
    assert_eq!(puts(&log).last(), Some(&MANIFEST_FILE));
    assert_eq!(report.uploaded.len(), common::FILES.len() + 1);
    assert_eq!(report.unchanged, 0);
    let expected_bytes: usize = common::FILES.iter().map(|(_, content)| content.len()).sum::<usize>()
        + std::fs::metadata(site.path.join(MANIFEST_FILE)).unwrap().len() as usize;
    assert_eq!(report.bytes, expected_bytes as u64);
    let remote = target.remote_manifest().await.unwrap();
    assert_eq!(remote, Manifest::read(&site.path).unwrap());
}

#[tokio::test]
async fn every_asset_goes_up_before_any_page_then_the_rules_and_the_manifest_last() {
    let site = Site::new();
    let (store, target) = recording_target();

    upload(&site.path, &target, &options(false)).await.unwrap();

    let log = store.take_log();
    let order = puts(&log);
    let last_asset = order.iter().rposition(|path| !is_page(path) && !path.starts_with('_')).unwrap();
    let first_page = order.iter().position(|path| is_page(path)).unwrap();
    let last_page = order.iter().rposition(|path| is_page(path)).unwrap();
    let first_rules = order.iter().position(|path| path.starts_with("_headers")).unwrap();
    assert!(last_asset < first_page, "an asset after a page: {order:?}");
    assert!(last_page < first_rules, "a page after the rules: {order:?}");
    assert_eq!(order.last(), Some(&MANIFEST_FILE), "{order:?}");
}

#[tokio::test]
async fn a_second_upload_after_changing_one_page_sends_only_that_page_its_copies_and_the_manifest() {
    let site = Site::new();
    let (store, target) = recording_target();
    upload(&site.path, &target, &options(false)).await.unwrap();
    store.take_log();
    site.edit_page("about/index.html", "<h1>About us</h1>");

    let report = upload(&site.path, &target, &options(false)).await.unwrap();

    let log = store.take_log();
    let mut sent = puts(&log);
    assert_eq!(sent.pop(), Some(MANIFEST_FILE));
    sent.sort_unstable();
    assert_eq!(sent, ["about/index.html", "about/index.html.br", "about/index.html.gz"]);
    assert_eq!(report.unchanged, common::FILES.len() - 3);
    assert!(report.to_string().starts_with("Uploaded 3 changed files and the manifest"), "{report}");
}

#[tokio::test]
async fn an_unchanged_site_uploads_nothing() {
    let site = Site::new();
    let (store, target) = recording_target();
    upload(&site.path, &target, &options(false)).await.unwrap();
    store.take_log();

    let report = upload(&site.path, &target, &options(true)).await.unwrap();

    assert_eq!(store.take_log(), Vec::<String>::new());
    assert_eq!((report.uploaded.len(), report.unchanged, report.pruned.len()), (0, common::FILES.len(), 0));
}

#[tokio::test]
async fn objects_carry_content_type_cache_control_and_the_encoding_of_precompressed_copies() {
    let site = Site::new();
    let (store, target) = recording_target();
    upload(&site.path, &target, &options(false)).await.unwrap();

    let attributes = |path: &'static str| {
        let store = store.clone();
        async move {
            let result = store.get(&Path::from(format!("sites/pledge/{path}"))).await.unwrap();
            let value = |attribute| result.attributes.get(&attribute).map(|value| value.to_string());
            (value(Attribute::ContentType), value(Attribute::CacheControl), value(Attribute::ContentEncoding))
        }
    };
    let some = |value: &str| Some(value.to_owned());
    assert_eq!(attributes("index.html").await, (some("text/html; charset=utf-8"), some("html-policy"), None));
    assert_eq!(attributes("index.html.br").await, (some("text/html; charset=utf-8"), some("html-policy"), some("br")));
    assert_eq!(attributes("style.css.gz").await, (some("text/css; charset=utf-8"), some("asset-policy"), some("gzip")));
    assert_eq!(attributes("images/logo.svg").await, (some("image/svg+xml; charset=utf-8"), some("asset-policy"), None));
    assert_eq!(attributes("_manifest.json").await, (some("application/json"), some("no-cache"), None));
}

#[tokio::test]
async fn prune_deletes_a_removed_page_after_the_new_manifest_is_up() {
    let site = Site::new();
    let (store, target) = recording_target();
    // Left by hand under the prefix: the prefix belongs to the site, so prune removes it too.
    store.put(&Path::from("sites/pledge/old/leftover.txt"), "x".into()).await.unwrap();
    // Outside the prefix: never touched.
    store.put(&Path::from("other/keep.txt"), "x".into()).await.unwrap();
    upload(&site.path, &target, &options(false)).await.unwrap();
    for file in ["about/index.html", "about/index.html.gz", "about/index.html.br"] {
        site.remove(file);
    }
    site.seal();
    store.take_log();

    let report = upload(&site.path, &target, &options(true)).await.unwrap();

    let log = store.take_log();
    let manifest_put = log.iter().position(|line| line.ends_with(MANIFEST_FILE)).unwrap();
    let first_delete = log.iter().position(|line| line.starts_with("delete")).unwrap();
    assert!(manifest_put < first_delete, "{log:?}");
    assert_eq!(report.pruned, ["about/index.html", "about/index.html.br", "about/index.html.gz", "old/leftover.txt"]);
    assert!(store.get(&Path::from("sites/pledge/about/index.html")).await.is_err());
    assert!(store.get(&Path::from("other/keep.txt")).await.is_ok());
    assert!(store.get(&Path::from("sites/pledge/index.html")).await.is_ok());
}

#[tokio::test]
async fn without_prune_a_removed_page_stays_and_is_reported() {
    let site = Site::new();
    let (store, target) = recording_target();
    upload(&site.path, &target, &options(false)).await.unwrap();
    site.remove("404.html.br");
    site.seal();

    let report = upload(&site.path, &target, &options(false)).await.unwrap();

    assert!(store.get(&Path::from("sites/pledge/404.html.br")).await.is_ok());
    assert_eq!(report.stale, 1);
    assert!(report.to_string().contains("1 remote files are no longer in the site; --prune deletes them"), "{report}");
}

#[tokio::test]
async fn a_failed_upload_keeps_the_old_manifest_and_a_retry_finishes_the_job() {
    let site = Site::new();
    let (store, target) = recording_target();
    upload(&site.path, &target, &options(false)).await.unwrap();
    let old = target.remote_manifest().await.unwrap();
    site.write("style.css", "body{color:#000}");
    site.edit_page("index.html", "<h1>Home, new</h1>");
    *store.fail_on.lock().unwrap() = Some("sites/pledge/style.css".to_owned());
    store.take_log();

    let error = upload(&site.path, &target, &options(false)).await.unwrap_err();

    assert!(matches!(&error, DeployError::Store { location, .. } if location == "sites/pledge/style.css"), "{error}");
    assert!(puts(&store.take_log()).iter().all(|path| !is_page(path)), "no page went up before its asset");
    assert_eq!(target.remote_manifest().await.unwrap(), old);
    *store.fail_on.lock().unwrap() = None;
    let retry = upload(&site.path, &target, &options(false)).await.unwrap();
    assert!(retry.uploaded.iter().any(|path| path == "style.css"), "{retry:?}");
    assert_eq!(target.remote_manifest().await.unwrap(), Manifest::read(&site.path).unwrap());
}

#[tokio::test]
async fn an_upload_refuses_a_folder_that_does_not_match_its_manifest_and_sends_nothing() {
    let site = Site::new();
    let (store, target) = recording_target();
    site.write("index.html", "edited after the build");

    let error = upload(&site.path, &target, &options(false)).await.unwrap_err();

    assert!(matches!(&error, DeployError::Mismatch { file, .. } if file == "index.html"), "{error}");
    assert_eq!(store.take_log(), Vec::<String>::new());
}

#[tokio::test]
async fn a_file_url_target_holds_the_site_in_a_folder_and_syncs_changes() {
    let site = Site::new();
    let folder = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(folder.path().join("bucket")).unwrap();
    let Target::Objects(target) = Target::parse(url.as_str()).unwrap() else { panic!("{url} is an object target") };

    let first = upload(&site.path, &target, &options(false)).await.unwrap();
    site.edit_page("index.html", "<h1>Changed</h1>");
    let second = upload(&site.path, &target, &options(false)).await.unwrap();

    assert_eq!(first.uploaded.len(), common::FILES.len() + 1);
    assert_eq!(second.uploaded.len(), 4, "{:?}", second.uploaded);
    let stored = std::fs::read_to_string(folder.path().join("bucket/index.html")).unwrap();
    assert_eq!(stored, "<h1>Changed</h1>");
    assert_eq!(Manifest::read(&folder.path().join("bucket")).unwrap(), Manifest::read(&site.path).unwrap());
}

#[test]
fn targets_are_told_apart_by_scheme() {
    assert!(matches!(Target::parse("/srv/www").unwrap(), Target::Releases(_)));
    assert!(matches!(Target::parse("relative/www").unwrap(), Target::Releases(_)));
    // Building an S3 client needs no network; credentials are looked up on first use.
    assert!(matches!(Target::parse("s3://bucket/site").unwrap(), Target::Objects(_)));
    let error = Target::parse("ftp://example.org/site").unwrap_err();
    assert!(error.to_string().contains("unknown scheme `ftp`"), "{error}");
}
