//! What an editor runs while writing: `pledge serve`, which rebuilds when a source changes and
//! tells the open tab to reload (keeping the last good pages when an edit breaks the site), and
//! `pledge check`, which finds every problem without writing anything.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{project_root, serve};

/// The reference site's sources (`site/`, `content/`, `themes/`) copied where a test may edit them.
fn copy_of_reference_site() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for folder in ["site", "content", "themes"] {
        copy_folder(&project_root().join(folder), &copy.path().join(folder));
    }
    copy
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            // Earlier dev builds of the reference site are not sources.
            if entry.file_name() != "public" && entry.file_name() != ".pledge" {
                copy_folder(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The dev server's reload stream, read as the page's `EventSource` reads it.
struct ReloadEvents {
    lines: BufReader<TcpStream>,
}

impl ReloadEvents {
    fn open(url: &url::Url) -> Self {
        let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let mut stream = TcpStream::connect(address).unwrap();
        write!(stream, "GET /__pledge/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
            .unwrap();
        let mut events = Self { lines: BufReader::new(stream) };
        let status = events.line(Duration::from_secs(10)).expect("the stream answers");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        events
    }

    /// The next line within `wait`, or `None` when none came.
    fn line(&mut self, wait: Duration) -> Option<String> {
        self.lines.get_ref().set_read_timeout(Some(wait)).unwrap();
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(read) if read > 0 => Some(line),
            _ => None,
        }
    }

    /// Whether a `reload` event arrives within `wait`.
    fn reload_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.line(left) {
                Some(line) if line.contains("data: reload") => return true,
                Some(_) => continue,
                None => return false,
            }
        }
        false
    }
}

async fn page(url: &url::Url, path: &str) -> String {
    let response = reqwest::get(url.join(path).unwrap()).await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.text().await.unwrap()
}

#[tokio::test]
async fn an_edit_rebuilds_the_site_and_reloads_the_tab_and_a_broken_one_keeps_the_last_good_pages() {
    let site = copy_of_reference_site();
    let served = serve(site.path());
    let mut events = ReloadEvents::open(&served.url);
    let about = site.path().join("content/about.md");
    let original = std::fs::read_to_string(&about).unwrap();
    assert!(!page(&served.url, "/about/").await.contains("Edited while serving"));

    std::fs::write(&about, format!("{original}\nEdited while serving.\n")).unwrap();
    assert!(events.reload_within(Duration::from_secs(30)), "no reload after an edit");
    assert!(page(&served.url, "/about/").await.contains("Edited while serving."));

    // A front matter that no longer parses: no reload, and the last good page stays.
    std::fs::write(&about, original.replacen("+++", "+++\ntitle = ", 1)).unwrap();
    assert!(!events.reload_within(Duration::from_secs(3)), "a broken build must not reload the tab");
    assert!(page(&served.url, "/about/").await.contains("Edited while serving."));

    std::fs::write(&about, &original).unwrap();
    assert!(events.reload_within(Duration::from_secs(30)), "no reload once the site builds again");
    assert!(!page(&served.url, "/about/").await.contains("Edited while serving"));
}

#[test]
fn check_reports_every_problem_with_its_line_and_writes_nothing() {
    let broken = project_root().join("generator/tests/fixtures/broken");
    let output = Command::new(env!("CARGO_BIN_EXE_pledge")).args(["check", "--root"]).arg(&broken).output().unwrap();
    assert!(!output.status.success());
    let errors = String::from_utf8(output.stderr).unwrap();
    assert!(errors.contains("5 problems in the site's sources"), "{errors}");
    assert!(errors.contains("links.md:6: internal link @/missing.md points to no content file"), "{errors}");
    assert!(errors.contains("    6 | A [broken link](@/missing.md) on line 6."), "the offending text: {errors}");
    assert!(!broken.join("public").exists(), "check writes no output");

    let site = copy_of_reference_site();
    let output =
        Command::new(env!("CARGO_BIN_EXE_pledge")).args(["check", "--root"]).arg(site.path()).output().unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.starts_with("No problems: "), "{printed}");
    assert!(!site.path().join("site/public").exists(), "check writes no output");
}

/// A server that answers `/ok` with 200 and anything else with 404, HEAD or GET, until dropped.
fn link_target() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request_line = String::new();
            if BufReader::new(&stream).read_line(&mut request_line).is_err() {
                continue;
            }
            if request_line.contains("/stop ") {
                return;
            }
            let status = if request_line.contains(" /ok ") { "200 OK" } else { "404 Not Found" };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, server)
}

/// A one-page Zola site whose page links to `links`, with `link_checker` settings.
fn site_linking_to(links: &[String], link_checker: &str) -> tempfile::TempDir {
    let site = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = site.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("zola.toml", &format!("base_url = \"https://example.org\"\n[link_checker]\n{link_checker}\n"));
    write("templates/index.html", "<a href=\"https://example.org/links/\">home</a>");
    write("templates/page.html", "{{ page.content | safe }}");
    write("content/_index.md", "+++\n+++\n");
    let body: Vec<String> = links.iter().enumerate().map(|(i, url)| format!("[link {i}]({url})")).collect();
    write("content/links.md", &format!("+++\ntitle = \"Links\"\n+++\n{}\n", body.join("\n")));
    site
}

#[test]
fn check_requests_external_links_only_when_asked_and_names_the_broken_ones() {
    let (port, server) = link_target();
    let target = format!("http://127.0.0.1:{port}");
    let refused = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/gone", closed.local_addr().unwrap().port())
    };
    let links =
        [format!("{target}/ok#part"), format!("{target}/missing"), refused.clone(), format!("{target}/skipped")];
    let check = |site: &tempfile::TempDir, external: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pledge"));
        command.args(["check", "--timeout-seconds", "5", "--root"]).arg(site.path());
        if external {
            command.arg("--external-links");
        }
        command.output().unwrap()
    };

    let site = site_linking_to(&links, &format!("skip_prefixes = [\"{target}/skipped\"]"));
    assert!(check(&site, false).status.success(), "without the flag nothing is requested");
    let output = check(&site, true);
    let errors = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "{errors}");
    assert!(errors.contains(&format!("{target}/missing: HTTP 404 Not Found (on links/index.html)")), "{errors}");
    assert!(errors.contains(&format!("{refused}: could not connect")), "{errors}");
    assert!(errors.contains("2 of 3 external links are broken"), "/ok answers, /skipped is skipped: {errors}");

    let warned = site_linking_to(&links[..2], "external_level = \"warn\"");
    let output = check(&warned, true);
    assert!(output.status.success(), "warn reports without failing");
    assert!(String::from_utf8(output.stderr).unwrap().contains("warning: 1 of 2 external links are broken"));

    let _ = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| write!(s, "GET /stop HTTP/1.1\r\n\r\n"));
    server.join().unwrap();
}
