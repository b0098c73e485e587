//! moto's S3-compatible server (`moto_server`, PyPI `moto[server]` 5.x) on a free local port, for
//! the deploy tests here and the binary's in `tests/deploy.rs`. Missing moto skips the test unless
//! `PLEDGE_REQUIRE_SERVICES=1`.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deploy::object_store::ClientConfigKey;
use deploy::object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use deploy::object_store::path::Path;
use deploy::object_store::signer::Signer;

/// moto accepts any credentials; real ones must never reach a test.
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";
const REGION: &str = "us-east-1";

/// The server process, killed when the test ends however it ends.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto, or returns `None` after saying why not (a panic when services are required).
    pub async fn start_or_skip() -> Option<Self> {
        match Self::start().await {
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

    async fn start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| e.to_string())?
            .port()
            .to_string();
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
            let mut moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
            let deadline = Instant::now() + Duration::from_secs(30);
            last_error = format!("{program} did not answer within 30 s");
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
        }
        Err(last_error)
    }

    /// A new bucket. object_store cannot create buckets; moto takes an unsigned PUT.
    pub async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new().put(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        assert!(response.status().is_success(), "creating bucket {name}: {}", response.status());
    }

    /// Builder options reaching this server, for `ObjectTarget::s3`.
    pub fn options(&self) -> Vec<(AmazonS3ConfigKey, String)> {
        vec![
            (AmazonS3ConfigKey::Endpoint, self.endpoint.clone()),
            (AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp), "true".to_owned()),
            (AmazonS3ConfigKey::Region, REGION.to_owned()),
            (AmazonS3ConfigKey::AccessKeyId, ACCESS_KEY.to_owned()),
            (AmazonS3ConfigKey::SecretAccessKey, SECRET_KEY.to_owned()),
        ]
    }

    /// The same as `AWS_*` variables, for a `pledge deploy` child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ]
    }

    /// GETs an object over plain HTTP through a presigned URL: objects are private, as behind a
    /// CDN, and the test should see the headers a CDN would get.
    pub async fn get(&self, bucket: &str, key: &str) -> reqwest::Response {
        let signer: AmazonS3 = self
            .options()
            .into_iter()
            .fold(AmazonS3Builder::new().with_bucket_name(bucket), |builder, (key, value)| {
                builder.with_config(key, value)
            })
            .build()
            .unwrap();
        let url = signer.signed_url(reqwest::Method::GET, &Path::from(key), Duration::from_secs(300)).await.unwrap();
        reqwest::get(url).await.unwrap()
    }
}

/// A header's value, or `""`.
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|value| value.to_str().unwrap().to_owned()).unwrap_or_default()
}
