//! Uploads to a real S3-compatible server (moto, started on a free local port): headers on the
//! objects, only changes sent the second time, pruning. Skips without moto unless
//! `PLEDGE_REQUIRE_SERVICES=1`.

mod common;

use common::Site;
use common::moto::{Moto, header};
use deploy::{ObjectTarget, UploadOptions, upload};

const HTML_POLICY: &str = "public, max-age=60, stale-while-revalidate=600, stale-if-error=86400";
const ASSET_POLICY: &str = "public, max-age=3600, stale-while-revalidate=86400";

fn cache_policy(path: &str) -> Option<String> {
    Some(if path.ends_with(".html") { HTML_POLICY } else { ASSET_POLICY }.to_owned())
}

#[tokio::test]
async fn uploads_to_an_s3_server_carry_headers_and_a_second_deploy_sends_only_the_change() {
    let Some(moto) = Moto::start_or_skip().await else { return };
    let bucket = format!("pledge-test-{}", std::process::id());
    moto.create_bucket(&bucket).await;
    // Passed to the builder rather than set in the environment, which other tests share.
    let target = ObjectTarget::s3(&format!("s3://{bucket}/site"), moto.options()).unwrap();
    let upload_options = UploadOptions { cache_control: cache_policy, ..UploadOptions::default() };
    let site = Site::new();

    let first = upload(&site.path, &target, &upload_options).await.unwrap();

    assert_eq!(first.uploaded.len(), common::FILES.len() + 1, "{first}");
    let page = moto.get(&bucket, "site/index.html.br").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "content-encoding"), "br");
    assert_eq!(header(&page, "cache-control"), HTML_POLICY);
    assert_eq!(page.text().await.unwrap(), "br:home");
    let style = moto.get(&bucket, "site/style.css").await;
    assert_eq!(header(&style, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&style, "cache-control"), ASSET_POLICY);
    assert_eq!(style.text().await.unwrap(), "body{color:#222}");

    site.write("style.css", "body{color:#111}");
    site.seal();
    let second = upload(&site.path, &target, &upload_options).await.unwrap();

    assert_eq!(second.uploaded, ["style.css", "_manifest.json"], "{second}");
    assert_eq!(moto.get(&bucket, "site/style.css").await.text().await.unwrap(), "body{color:#111}");

    site.remove("app.js.br");
    site.seal();
    let pruning = UploadOptions { prune: true, ..upload_options };
    let third = upload(&site.path, &target, &pruning).await.unwrap();

    assert_eq!(third.pruned, ["app.js.br"], "{third}");
    assert_eq!(moto.get(&bucket, "site/app.js.br").await.status(), 404);
}
