//! The production stack for tests: the reference site built by the binary into a release
//! folder behind a `current` symlink, `pledge api` alone on SQLite, and nginx in front with the
//! repository's `infra/nginx/pledge.conf`, changed only where a test must (paths, ports).
//! Included by the tests that need it (`#[path = "common/stack.rs"] mod stack;`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

use crate::common;

const BROTLI_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

/// A child process stopped when dropped, so a failing assertion leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx's master process. Killing it would orphan its worker, which would keep serving (and
/// holding the test's output open), so it is stopped the way an operator stops it.
struct Nginx {
    master: Child,
    stop: Command,
    error_log: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.error_log).unwrap_or_default();
            eprintln!("nginx's error log:\n{log}");
        }
        let _ = self.stop.arg("-s").arg("stop").stdout(Stdio::null()).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// The built site, the API and nginx in front of them.
pub struct Stack {
    /// nginx's address, ending in `/`.
    pub url: String,
    #[allow(dead_code)] // the nginx tests count its connections
    pub api_port: u16,
    /// The release `current` points at, to compare answers with the files on disk.
    pub release: PathBuf,
    // Dropped in this order: nginx, then the API, then the folder they use.
    _nginx: Nginx,
    _api: Running,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)] // not every test that starts the stack reads every part of it
impl Stack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    pub fn file(&self, path: &str) -> Vec<u8> {
        let path = self.release.join(path);
        std::fs::read(&path).unwrap_or_else(|e| panic!("the build has no {}: {e}", path.display()))
    }
}

fn nginx_binary() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("PLEDGE_NGINX").map(PathBuf::from), Some("nginx".into()), Some("/usr/sbin/nginx".into())];
    candidates.into_iter().flatten().find(|nginx| {
        Command::new(nginx).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

/// nginx and the brotli module the configuration needs, or a skip (a failure in CI).
fn nginx_or_skip() -> Option<PathBuf> {
    let missing = match nginx_binary() {
        None => "nginx",
        Some(_) if !Path::new(BROTLI_MODULE).exists() => {
            "nginx's brotli_static module (libnginx-mod-http-brotli-static)"
        }
        Some(nginx) => return Some(nginx),
    };
    assert!(!common::services_required(), "{missing} is required (PLEDGE_REQUIRE_SERVICES=1) but not installed");
    eprintln!("skipping: {missing} is not installed");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Replaces the one active (uncommented) line containing `from`, so the test breaks if the
/// configuration changes shape instead of silently testing something else.
fn replace_directive(conf: &str, from: &str, to: &str) -> String {
    let mut replaced = 0;
    let lines: Vec<String> = conf
        .lines()
        .map(|line| {
            if !line.trim_start().starts_with('#') && line.contains(from) {
                replaced += 1;
                line.replace(from, to)
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "infra/nginx/pledge.conf should have exactly one active `{from}`");
    lines.join("\n") + "\n"
}

/// The effective user is root: nginx's workers must then run as root too, or they could not
/// read the temporary folder (mode 0700). `/proc/self` belongs to the process's effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Builds for `base_url`, where nginx will serve it: pages name their assets by absolute URL,
/// and the CSP allows only the site's own origin.
fn build_release(root: &Path, release: &Path, base_url: &str) {
    std::fs::create_dir_all(release.parent().unwrap()).unwrap();
    let built = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(["build", "--root"])
        .arg(root)
        .arg("--output-dir")
        .arg(release)
        .args(["--base-url", base_url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(built.status.success(), "pledge build failed: {}", String::from_utf8_lossy(&built.stderr));
}

async fn start_api(dir: &Path, api_port: u16, public_url: &str) -> Running {
    let root = common::project_root();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pledge"));
    // Only the settings below: a PLEDGE_* variable of the caller's (CI sets some) must not
    // change what is tested.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PLEDGE_") {
            command.env_remove(name);
        }
    }
    let child = command
        .arg("api")
        .env("PLEDGE_DATABASE_URL", format!("sqlite:{}", dir.join("pledge.db").display()))
        .env("PLEDGE_SITE_CONFIG", root.join("site/config.toml"))
        .env("PLEDGE_BIND", format!("127.0.0.1:{api_port}"))
        .env("PLEDGE_PUBLIC_URL", public_url)
        .env("PLEDGE_SITE_URL", public_url)
        .env("PLEDGE_SANDBOX_SECRET", "infra-test-sandbox-secret")
        // The sandbox gateway's own page, where the browser test pays.
        .env("PLEDGE_SERVE_SANDBOX_PAGE", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pledge api starts");
    let mut api = Running(child);
    // No pooled connections: the keep-alive check counts the API's connections later.
    let probe = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let healthz = format!("http://127.0.0.1:{api_port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = api.0.try_wait() {
            panic!("pledge api exited with {status}");
        }
        if probe.get(&healthz).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return api;
        }
        assert!(Instant::now() < deadline, "pledge api did not answer /healthz within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The repository's site configuration inside a minimal main `nginx.conf` of our own, so
/// nothing of the machine's nginx setup (or port 80) is used.
fn write_nginx_conf(dir: &Path, current: &Path, api_port: u16, nginx_port: u16) -> PathBuf {
    let site_conf = std::fs::read_to_string(common::project_root().join("infra/nginx/pledge.conf")).unwrap();
    let current = current.display();
    let site_conf = replace_directive(&site_conf, "root /srv/pledge/site/current;", &format!("root {current};"));
    let site_conf = replace_directive(
        &site_conf,
        "include /srv/pledge/site/current/_headers.nginx;",
        &format!("include {current}/_headers.nginx;"),
    );
    let site_conf = replace_directive(&site_conf, "server 127.0.0.1:8080;", &format!("server 127.0.0.1:{api_port};"));
    let site_conf = replace_directive(&site_conf, "listen 80;", &format!("listen 127.0.0.1:{nginx_port};"));
    std::fs::write(dir.join("pledge.conf"), site_conf).unwrap();

    let tmp = dir.display();
    let user = if running_as_root() { "user root;\n" } else { "" };
    let main_conf = format!(
        "daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         {user}\
         pid {tmp}/nginx.pid;\n\
         error_log {tmp}/error.log warn;\n\
         load_module {BROTLI_MODULE};\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20   include /etc/nginx/mime.types;\n\
         \x20   default_type application/octet-stream;\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {tmp}/client_body;\n\
         \x20   proxy_temp_path {tmp}/proxy;\n\
         \x20   fastcgi_temp_path {tmp}/fastcgi;\n\
         \x20   uwsgi_temp_path {tmp}/uwsgi;\n\
         \x20   scgi_temp_path {tmp}/scgi;\n\
         \x20   include {tmp}/pledge.conf;\n\
         }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, main_conf).unwrap();
    path
}

fn nginx_command(nginx: &Path, dir: &Path, conf: &Path) -> Command {
    let mut command = Command::new(nginx);
    // `-e` before the configuration is read, so nginx never opens the machine's error log.
    command.arg("-p").arg(dir).arg("-e").arg(dir.join("startup-error.log")).arg("-c").arg(conf);
    command
}

/// The stack, up and answering; `None` (the test skips) without nginx unless services are
/// required.
pub async fn start_stack() -> Option<Stack> {
    let nginx = nginx_or_skip()?;
    let dir = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let nginx_port = free_port();
    let url = format!("http://127.0.0.1:{nginx_port}/");
    let release = dir.path().join("site/releases/r1");
    build_release(&common::project_root(), &release, url.trim_end_matches('/'));
    // Deploys switch this symlink; nginx must follow it.
    let current = dir.path().join("site/current");
    std::os::unix::fs::symlink(&release, &current).unwrap();
    let api = start_api(dir.path(), api_port, &url).await;

    let conf = write_nginx_conf(dir.path(), &current, api_port, nginx_port);
    let checked = nginx_command(&nginx, dir.path(), &conf).arg("-t").output().unwrap();
    assert!(
        checked.status.success(),
        "nginx -t refused the configuration:\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let master = nginx_command(&nginx, dir.path(), &conf).stdin(Stdio::null()).spawn().unwrap();
    let nginx =
        Nginx { master, stop: nginx_command(&nginx, dir.path(), &conf), error_log: dir.path().join("error.log") };

    let stack = Stack { url, api_port, release: release.canonicalize().unwrap(), _nginx: nginx, _api: api, _dir: dir };
    let probe = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    // Any answer will do: what it answers is for the tests to judge, with their own messages.
    while probe.get(stack.url("/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "nginx did not answer within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(stack)
}
