//! Uploads to a real S3-compatible server: moto's `moto_server` (PyPI `moto[server]`), started on
//! a free local port. Skips when moto is missing, unless `PLEDGE_REQUIRE_SERVICES=1`.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Site;
use deploy::{ObjectTarget, UploadOptions, upload};
use object_store::ClientConfigKey;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::signer::Signer;

const HTML_POLICY: &str = "public, max-age=60, stale-while-revalidate=600, stale-if-error=86400";
const ASSET_POLICY: &str = "public, max-age=3600, stale-while-revalidate=86400";

fn cache_policy(path: &str) -> Option<String> {
    Some(if path.ends_with(".html") { HTML_POLICY } else { ASSET_POLICY }.to_owned())
}

/// The server process, killed when the test ends however it ends.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto, or says why it could not (then the test skips or, when services are required, fails).
async fn start_moto() -> Result<Moto, String> {
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map_err(|e| e.to_string())?.port();
    let port = port.to_string();
    let launchers: [(&str, &[&str]); 2] = [("moto_server", &[]), ("python3", &["-m", "moto.server"])];
    let mut last_error = String::new();
    for (program, prefix) in launchers {
        let spawned = Command::new(program)
            .args(prefix)
            .args(["-H", "127.0.0.1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                last_error = format!("{program}: {error}");
                continue;
            }
        };
        let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = moto.child.try_wait() {
                last_error = format!("{program} exited with {status} (is `moto[server]` installed?)");
                break;
            }
            if reqwest::get(format!("{}/moto-api/", moto.endpoint)).await.is_ok() {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if last_error.is_empty() {
            last_error = format!("{program} did not answer within 30 s");
        }
    }
    Err(last_error)
}

async fn moto_or_skip() -> Option<Moto> {
    match start_moto().await {
        Ok(moto) => Some(moto),
        Err(reason) if std::env::var("PLEDGE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("moto is required (PLEDGE_REQUIRE_SERVICES=1) but could not start: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping: no S3-compatible server ({reason}); `python3 -m pip install 'moto[server]'`");
            None
        }
    }
}

#[tokio::test]
async fn uploads_to_an_s3_server_carry_headers_and_a_second_deploy_sends_only_the_change() {
    let Some(moto) = moto_or_skip().await else { return };
    let http = reqwest::Client::new();
    // moto creates buckets without credentials; object_store has no bucket creation.
    let bucket = format!("pledge-test-{}", std::process::id());
    http.put(format!("{}/{bucket}", moto.endpoint)).send().await.unwrap().error_for_status().unwrap();
    // Passed to the builder rather than set in the environment, which other tests share.
    let options = [
        (AmazonS3ConfigKey::Endpoint, moto.endpoint.clone()),
        (AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp), "true".to_owned()),
        (AmazonS3ConfigKey::Region, "us-east-1".to_owned()),
        (AmazonS3ConfigKey::AccessKeyId, "testing".to_owned()),
        (AmazonS3ConfigKey::SecretAccessKey, "testing".to_owned()),
    ];
    // Objects are private, as behind a CDN; the test reads them back through presigned URLs.
    let signer = options
        .iter()
        .fold(AmazonS3Builder::new().with_bucket_name(&bucket), |builder, (key, value)| {
            builder.with_config(*key, value)
        })
        .build()
        .unwrap();
    let target = ObjectTarget::s3(&format!("s3://{bucket}/site"), options).unwrap();
    let upload_options = UploadOptions { cache_control: cache_policy, ..UploadOptions::default() };
    let site = Site::new();

    let first = upload(&site.path, &target, &upload_options).await.unwrap();

    assert_eq!(first.uploaded.len(), common::FILES.len() + 1, "{first}");
    let get = async |path: &str| {
        let location = object_store::path::Path::from(format!("site/{path}"));
        let url = signer.signed_url(reqwest::Method::GET, &location, Duration::from_secs(300)).await.unwrap();
        http.get(url).send().await
    };
    let page = get("index.html.br").await.unwrap();
    let header = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).map(|value| value.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "content-encoding"), "br");
    assert_eq!(header(&page, "cache-control"), HTML_POLICY);
    assert_eq!(page.text().await.unwrap(), "br:home");
    let style = get("style.css").await.unwrap();
    assert_eq!(header(&style, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&style, "cache-control"), ASSET_POLICY);
    assert_eq!(style.text().await.unwrap(), "body{color:#222}");

    site.write("style.css", "body{color:#111}");
    site.seal();
    let second = upload(&site.path, &target, &upload_options).await.unwrap();

    assert_eq!(second.uploaded, ["style.css", "_manifest.json"], "{second}");
    assert_eq!(get("style.css").await.unwrap().text().await.unwrap(), "body{color:#111}");

    site.remove("app.js.br");
    site.seal();
    let pruning = UploadOptions { prune: true, ..upload_options };
    let third = upload(&site.path, &target, &pruning).await.unwrap();

    assert_eq!(third.pruned, ["app.js.br"], "{third}");
    assert_eq!(get("app.js.br").await.unwrap().status(), 404);
}
