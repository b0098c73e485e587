//! `load_data`: a data file, URL or literal as a value templates can use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tera::{Function, Result as TeraResult, Value};

use super::data_formats::DataFormat;
use super::{OnceCache, SiteFiles, modified, optional};

/// How long one request may take before the build gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `load_data(path= | url= | literal=, format?, encoding?, required?, method?, body?,
/// content_type?, headers?)`, as Zola 0.22 documents it.
///
/// - `path` is found by Zola's file searching logic ([`SiteFiles::find`]); `url` is fetched with
///   GET, or POST with `method="POST"`, `body`, `content_type`, and `headers` as a list of
///   `"name=value"` added to the request; `literal` is the data itself.
/// - `format` is one of toml, json, csv, yaml (or yml), xml, plain; bibtex is refused. Without it a
///   path's extension decides and a URL or literal is plain text.
/// - `encoding` may only be UTF-8, the only one Zola 0.22 reads.
/// - `required=false` gives null for a missing file or a failed request (connection refused,
///   timeout, a status other than 2xx); data that does not parse is an error either way.
///
/// Files are cached by path, modification time and format; URLs by the whole request and format,
/// so each is read or fetched once per build however many pages ask.
pub(crate) struct LoadData {
    files: Arc<SiteFiles>,
    file_cache: OnceCache<(PathBuf, Option<SystemTime>, DataFormat), Result<Value, String>>,
    url_cache: OnceCache<(Request, DataFormat), Result<Loaded, String>>,
}

/// What was found, before `required` decides whether a miss is an error.
#[derive(Debug, Clone)]
enum Loaded {
    Data(Value),
    Missing(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Request {
    url: String,
    post: bool,
    body: Option<String>,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
}

impl LoadData {
    pub(crate) fn new(files: Arc<SiteFiles>) -> Self {
        Self { files, file_cache: OnceCache::default(), url_cache: OnceCache::default() }
    }

    fn load(&self, args: &HashMap<String, Value>) -> Result<Loaded, String> {
        let path: Option<String> = optional(args, "load_data", "path").map_err(|e| e.to_string())?;
        let url: Option<String> = optional(args, "load_data", "url").map_err(|e| e.to_string())?;
        let literal: Option<String> = optional(args, "load_data", "literal").map_err(|e| e.to_string())?;
        let format: Option<DataFormat> = optional::<String>(args, "load_data", "format")
            .map_err(|e| e.to_string())?
            .map(|name| DataFormat::named(&name))
            .transpose()?;
        if let Some(encoding) = optional::<String>(args, "load_data", "encoding").map_err(|e| e.to_string())?
            && !matches!(encoding.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
        {
            return Err(format!("`encoding` {encoding}: only UTF-8 is supported"));
        }

        match (path, url, literal) {
            (Some(path), None, None) => self.load_file(&path, format),
            (None, Some(url), None) => {
                let request = request_of(url, args)?;
                let format = format.unwrap_or(DataFormat::Plain);
                self.url_cache.get_or_compute((request.clone(), format), || match fetch(&request)? {
                    Loaded::Data(Value::String(body)) => format.parse(&body).map(Loaded::Data),
                    other => Ok(other),
                })
            }
            (None, None, Some(literal)) => format.unwrap_or(DataFormat::Plain).parse(&literal).map(Loaded::Data),
            _ => Err("needs exactly one of `path`, `url` or `literal`".into()),
        }
    }

    fn load_file(&self, requested: &str, format: Option<DataFormat>) -> Result<Loaded, String> {
        let Some(path) = self.files.find(requested)? else {
            return Ok(Loaded::Missing(format!("`{requested}` is not in the site, its static or its content folder")));
        };
        let format = format.unwrap_or_else(|| DataFormat::of_path(&path));
        let key = (path.clone(), modified(&path), format);
        let value = self.file_cache.get_or_compute(key, || {
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", path.display()))?;
            format.parse(&text).map_err(|e| format!("{}: {e}", path.display()))
        })?;
        Ok(Loaded::Data(value))
    }
}

impl Function for LoadData {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let required: bool = optional(args, "load_data", "required")?.unwrap_or(true);
        match self.load(args).map_err(|e| format!("load_data(): {e}"))? {
            Loaded::Data(value) => Ok(value),
            Loaded::Missing(_) if !required => Ok(Value::Null),
            Loaded::Missing(why) => Err(format!("load_data(): {why} (pass required=false to allow that)").into()),
        }
    }
}

fn request_of(url: String, args: &HashMap<String, Value>) -> Result<Request, String> {
    let option = |name: &str| optional::<String>(args, "load_data", name).map_err(|e| e.to_string());
    let post = match option("method")?.map(|m| m.to_ascii_uppercase()).as_deref() {
        None | Some("GET") => false,
        Some("POST") => true,
        Some(other) => return Err(format!("`method` {other} is not GET or POST")),
    };
    let body = option("body")?;
    if body.is_some() && !post {
        return Err("`body` needs method=\"POST\"".into());
    }
    let headers = optional::<Vec<String>>(args, "load_data", "headers")
        .map_err(|e| e.to_string())?
        .unwrap_or_default()
        .into_iter()
        .map(|header| match header.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
            _ => Err(format!("header `{header}` is not name=value")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("`url` {url}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`url` {url}: only http and https are fetched"));
    }
    Ok(Request { url, post, body, content_type: option("content_type")?, headers })
}

/// Fetches on a thread of its own: reqwest's blocking client runs (and, when dropped, stops) a
/// runtime of its own, which panics on a thread already inside one, and the dev server renders
/// from inside tokio.
fn fetch(request: &Request) -> Result<Loaded, String> {
    let request = request.clone();
    std::thread::spawn(move || fetch_here(&request)).join().map_err(|_| "the request's thread panicked".to_string())?
}

fn fetch_here(request: &Request) -> Result<Loaded, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("pledge-generator/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut builder = if request.post { client.post(&request.url) } else { client.get(&request.url) };
    if let Some(content_type) = &request.content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let url = &request.url;
    let response = match builder.send() {
        Ok(response) => response,
        Err(e) if e.is_builder() => return Err(format!("{url}: {e}")),
        Err(e) => return Ok(Loaded::Missing(format!("{url} could not be fetched: {e}"))),
    };
    let status = response.status();
    if !status.is_success() {
        return Ok(Loaded::Missing(format!("{url} answered {status}")));
    }
    let bytes = response.bytes().map_err(|e| format!("{url}: reading the body failed: {e}"))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| format!("{url} did not answer with UTF-8"))?;
    Ok(Loaded::Data(Value::String(text)))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn site(files: &[(&str, &str)]) -> (tempfile::TempDir, LoadData) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let files = SiteFiles::new(dir.path(), &dir.path().join("content"), &[dir.path().join("static")]);
        (dir, LoadData::new(Arc::new(files)))
    }

    fn args(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn load(function: &LoadData, pairs: &[(&str, Value)]) -> TeraResult<Value> {
        function.call(&args(pairs))
    }

    #[test]
    fn each_file_format_is_read_by_its_extension() {
        let (_dir, f) = site(&[
            ("data/a.toml", "x = 1"),
            ("static/a.json", r#"{"x": 2}"#),
            ("content/blog/a.csv", "x\n3\n"),
            ("a.yaml", "x: 4"),
            ("a.xml", "<x>5</x>"),
            ("a.txt", "x = 6"),
        ]);
        assert_eq!(load(&f, &[("path", json!("data/a.toml"))]).unwrap(), json!({"x": 1}));
        assert_eq!(load(&f, &[("path", json!("a.json"))]).unwrap(), json!({"x": 2}));
        assert_eq!(
            load(&f, &[("path", json!("@/blog/a.csv"))]).unwrap(),
            json!({"headers": ["x"], "records": [["3"]]})
        );
        assert_eq!(load(&f, &[("path", json!("a.yaml"))]).unwrap(), json!({"x": 4}));
        assert_eq!(load(&f, &[("path", json!("a.xml"))]).unwrap(), json!({"x": 5}));
        assert_eq!(load(&f, &[("path", json!("a.txt"))]).unwrap(), json!("x = 6"));
        assert_eq!(load(&f, &[("path", json!("a.txt")), ("format", json!("toml"))]).unwrap(), json!({"x": 6}));
        assert_eq!(load(&f, &[("path", json!("data/a.toml")), ("format", json!("plain"))]).unwrap(), json!("x = 1"));
    }

    #[test]
    fn a_missing_file_is_an_error_unless_not_required_and_bad_data_always_is() {
        let (_dir, f) = site(&[("bad.json", "{")]);
        let error = load(&f, &[("path", json!("nope.json"))]).unwrap_err().to_string();
        assert!(error.contains("nope.json") && error.contains("required=false"), "{error}");
        assert_eq!(load(&f, &[("path", json!("nope.json")), ("required", json!(false))]).unwrap(), Value::Null);
        let error = load(&f, &[("path", json!("bad.json")), ("required", json!(false))]).unwrap_err().to_string();
        assert!(error.contains("invalid JSON"), "{error}");
    }

    #[test]
    fn bad_arguments_are_refused() {
        let (_dir, f) = site(&[("a.txt", "x")]);
        let cases: &[(&[(&str, Value)], &str)] = &[
            (&[], "exactly one"),
            (&[("path", json!("a.txt")), ("literal", json!("x"))], "exactly one"),
            (&[("path", json!("../a.txt"))], "outside the site"),
            (&[("path", json!("a.txt")), ("format", json!("ini"))], "ini"),
            (&[("path", json!("a.txt")), ("encoding", json!("latin-1"))], "UTF-8"),
            (&[("url", json!("file:///etc/passwd"))], "http"),
            (&[("url", json!("http://127.0.0.1:9/")), ("method", json!("PUT"))], "PUT"),
            (&[("url", json!("http://127.0.0.1:9/")), ("body", json!("x"))], "POST"),
            (&[("url", json!("http://127.0.0.1:9/")), ("headers", json!(["novalue"]))], "name=value"),
        ];
        for (pairs, expected) in cases {
            let error = load(&f, pairs).unwrap_err().to_string();
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
        assert_eq!(load(&f, &[("path", json!("a.txt")), ("encoding", json!("UTF-8"))]).unwrap(), json!("x"));
    }

    #[test]
    fn a_literal_is_plain_unless_given_a_format() {
        let (_dir, f) = site(&[]);
        assert_eq!(load(&f, &[("literal", json!(r#"{"name": "bob"}"#))]).unwrap(), json!(r#"{"name": "bob"}"#));
        assert_eq!(
            load(&f, &[("literal", json!(r#"{"name": "bob"}"#)), ("format", json!("json"))]).unwrap(),
            json!({"name": "bob"})
        );
    }

    #[test]
    fn an_edited_file_is_read_again() {
        let (dir, f) = site(&[("a.json", "1")]);
        assert_eq!(load(&f, &[("path", json!("a.json"))]).unwrap(), json!(1));
        let path = dir.path().join("a.json");
        std::fs::write(&path, "2").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
        assert_eq!(load(&f, &[("path", json!("a.json"))]).unwrap(), json!(2));
    }

    /// A one-thread HTTP server on 127.0.0.1: `/data.json` answers JSON, `/echo` answers the
    /// method, the `x-test` header, the content type and the body; anything else is a 404.
    struct TestServer {
        base: String,
        hits: Arc<AtomicUsize>,
    }

    fn serve() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut headers = HashMap::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                    }
                }
                let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut parts = request_line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let (status, answer) = match path {
                    "/data.json" => ("200 OK", r#"{"total": 42}"#.to_string()),
                    "/echo" => (
                        "200 OK",
                        format!(
                            "{method}|{}|{}|{}",
                            headers.get("x-test").cloned().unwrap_or_default(),
                            headers.get("content-type").cloned().unwrap_or_default(),
                            String::from_utf8_lossy(&body)
                        ),
                    ),
                    _ => ("404 Not Found", "gone".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        TestServer { base, hits }
    }

    #[test]
    fn a_url_is_fetched_once_per_format_and_parsed_as_asked() {
        let server = serve();
        let (_dir, f) = site(&[]);
        let url = json!(format!("{}/data.json", server.base));

        assert_eq!(load(&f, &[("url", url.clone()), ("format", json!("json"))]).unwrap(), json!({"total": 42}));
        assert_eq!(load(&f, &[("url", url.clone()), ("format", json!("json"))]).unwrap(), json!({"total": 42}));
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);

        assert_eq!(load(&f, &[("url", url)]).unwrap(), json!(r#"{"total": 42}"#));
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_post_sends_its_body_content_type_and_headers() {
        let server = serve();
        let (_dir, f) = site(&[]);
        let answer = load(
            &f,
            &[
                ("url", json!(format!("{}/echo", server.base))),
                ("method", json!("post")),
                ("body", json!("hello")),
                ("content_type", json!("text/plain")),
                ("headers", json!(["x-test=a=b"])),
            ],
        )
        .unwrap();
        assert_eq!(answer, json!("POST|a=b|text/plain|hello"));
    }

    #[test]
    fn a_failed_request_is_an_error_unless_not_required() {
        let server = serve();
        let (_dir, f) = site(&[]);
        let missing = json!(format!("{}/missing", server.base));

        let error = load(&f, &[("url", missing.clone())]).unwrap_err().to_string();
        assert!(error.contains("404"), "{error}");
        assert_eq!(load(&f, &[("url", missing), ("required", json!(false))]).unwrap(), Value::Null);

        // Nothing listens on a port just released.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let unreachable = json!(format!("http://{closed}/"));
        assert_eq!(load(&f, &[("url", unreachable), ("required", json!(false))]).unwrap(), Value::Null);
    }
}
