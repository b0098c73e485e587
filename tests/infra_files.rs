//! The operators' files under `infra/` that cannot run here (no container engine, no systemd as
//! init, no GitHub runner) checked for the shape they need, against the code they depend on;
//! and the CI script, which can run, run for real on a copy of the reference site.

// Only `project_root` and `services_required`: this test starts its own processes, not `pledge serve`.
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn infra(path: &str) -> PathBuf {
    common::project_root().join("infra").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML file as JSON, through PyYAML (a YAML parser in Rust would be a dependency for two
/// files). Without python3 and PyYAML: a skip, or a failure when services are required.
fn yaml(path: &Path) -> Option<Value> {
    const TO_JSON: &str = "import sys, yaml, json; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
    let parsed = match Command::new("python3").args(["-c", TO_JSON]).arg(path).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) if String::from_utf8_lossy(&output.stderr).contains("No module named 'yaml'") => {
            skip("PyYAML is not installed");
            return None;
        }
        Ok(output) => panic!("{} is not valid YAML:\n{}", path.display(), String::from_utf8_lossy(&output.stderr)),
        Err(_) => {
            skip("python3 is not installed");
            return None;
        }
    };
    Some(serde_json::from_slice(&parsed.stdout).unwrap())
}

fn skip(why: &str) {
    assert!(!common::services_required(), "{why}, and PLEDGE_REQUIRE_SERVICES=1");
    eprintln!("skipping: {why}");
}

/// A default from `Settings::defaults()` in api/src/settings.rs, read from its source so this
/// test follows the code rather than a copy of the number.
fn api_default_seconds(setting: &str) -> u64 {
    let source = read(&common::project_root().join("api/src/settings.rs"));
    let needle = format!("set_default(\"{setting}\", ");
    let at = source.find(&needle).unwrap_or_else(|| panic!("settings.rs has no default for {setting}")) + needle.len();
    let digits: String = source[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '_').collect();
    digits.replace('_', "").parse().unwrap_or_else(|_| panic!("{setting}'s default is not a number of seconds"))
}

/// `35`, `35s` or `1min` as systemd and compose write durations.
fn seconds(duration: &str) -> u64 {
    let duration = duration.trim();
    let split = duration.find(|c: char| !c.is_ascii_digit()).unwrap_or(duration.len());
    let (number, unit) = duration.split_at(split);
    let number: u64 = number.parse().unwrap_or_else(|_| panic!("not a duration: {duration}"));
    match unit {
        "" | "s" | "sec" => number,
        "m" | "min" => number * 60,
        other => panic!("unexpected unit {other} in {duration}"),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

#[test]
fn compose_runs_postgres_the_api_and_nginx_with_the_repositorys_nginx_config() {
    let Some(compose) = yaml(&infra("compose.yaml")) else { return };
    let services = &compose["services"];
    for name in ["postgres", "api", "nginx"] {
        assert!(services[name].is_object(), "compose.yaml has a `{name}` service");
    }

    let postgres = &services["postgres"];
    assert!(postgres["image"].as_str().unwrap().starts_with("postgres:16"));
    assert!(text_of(&postgres["healthcheck"]["test"]).contains("pg_isready"));
    assert!(text_of(&postgres["volumes"]).contains(":/var/lib/postgresql/data"), "the database outlives the container");

    let api = &services["api"];
    assert_eq!(api["depends_on"]["postgres"]["condition"], "service_healthy");
    let context = infra(api["build"]["context"].as_str().unwrap());
    let dockerfile = context.join(api["build"]["dockerfile"].as_str().unwrap());
    assert_eq!(dockerfile.canonicalize().unwrap(), infra("container/Dockerfile").canonicalize().unwrap());
    assert_eq!(
        context.canonicalize().unwrap(),
        common::project_root().canonicalize().unwrap(),
        "the workspace is the context"
    );
    let environment = &api["environment"];
    assert!(environment["PLEDGE_DATABASE_URL"].as_str().unwrap().starts_with("postgres://"));
    assert!(environment["PLEDGE_DATABASE_URL"].as_str().unwrap().contains("@postgres:5432/"));
    for setting in ["PLEDGE_SITE_CONFIG", "PLEDGE_PUBLIC_URL", "PLEDGE_SITE_URL"] {
        assert!(environment[setting].is_string(), "the api service sets {setting}");
    }
    assert!(environment.get("PLEDGE_SANDBOX_SECRET").is_none(), "secrets come from the env file, not compose.yaml");
    assert!(api["env_file"].is_array() || api["env_file"].is_string(), "the api reads its secrets from an env file");
    let example = read(&infra("compose.env.example"));
    assert!(example.contains("PLEDGE_SANDBOX_SECRET=") && example.contains("POSTGRES_PASSWORD="));
    assert!(text_of(&api["healthcheck"]["test"]).contains("/readyz"));
    let grace = seconds(api["stop_grace_period"].as_str().expect("the api has a stop_grace_period"));
    assert!(grace > api_default_seconds("shutdown_timeout_seconds"), "compose waits for the API's graceful shutdown");

    let nginx = &services["nginx"];
    assert!(text_of(&nginx["ports"]).contains("8080:80"));
    assert_eq!(nginx["depends_on"]["api"]["condition"], "service_healthy");
    let volumes: Vec<String> = nginx["volumes"].as_array().unwrap().iter().map(text_of).collect();
    let mounted_conf = volumes
        .iter()
        .find(|volume| {
            volume.ends_with(":ro") && infra(volume.split(':').next().unwrap()).ends_with("nginx/pledge.conf")
        })
        .expect("nginx mounts infra/nginx/pledge.conf read-only");
    assert!(infra(mounted_conf.split(':').next().unwrap()).is_file(), "{mounted_conf}");
    assert!(
        volumes.iter().any(|v| v.starts_with("../site:") && v.ends_with(":ro")),
        "the site is mounted read-only: {volumes:?}"
    );
    // The container rewrites the upstream to the `api` service: the line it rewrites must exist.
    let command = text_of(&nginx["command"]);
    assert!(command.contains("s/server 127.0.0.1:8080;/server api:8080;/"), "{command}");
    assert!(read(&infra("nginx/pledge.conf")).contains("\n    server 127.0.0.1:8080;\n"));
    let nginx_dockerfile =
        infra(nginx["build"]["context"].as_str().unwrap()).join(nginx["build"]["dockerfile"].as_str().unwrap());
    assert!(read(&nginx_dockerfile).contains("libnginx-mod-http-brotli-static"), "the nginx image has brotli_static");
}

#[test]
fn the_site_workflow_runs_the_ci_script_on_pushes_that_touch_the_site() {
    let Some(workflow) = yaml(&infra("github/workflows/site.yml")) else { return };
    // YAML 1.1 (PyYAML) reads the key `on` as the boolean true; GitHub reads it as `on`.
    let on = if workflow["on"].is_null() { &workflow["true"] } else { &workflow["on"] };
    let push = &on["push"];
    assert!(push["branches"].as_array().unwrap().iter().any(|b| b == "main"), "{push}");
    let paths: Vec<&str> = push["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for folder in ["content", "themes", "site", "static", "templates", "sass"] {
        assert!(paths.contains(&format!("{folder}/**").as_str()), "pushes touching {folder}/ run it: {paths:?}");
    }

    let steps: Vec<&Value> =
        workflow["jobs"].as_object().unwrap().values().flat_map(|job| job["steps"].as_array().unwrap()).collect();
    assert!(steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/checkout@"))));
    assert!(steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/cache@"))));
    let script_steps: Vec<&&Value> =
        steps.iter().filter(|s| s["run"].as_str().is_some_and(|r| r.contains("infra/ci/site.sh"))).collect();
    assert_eq!(script_steps.len(), 1, "one step runs infra/ci/site.sh");
    let env = &script_steps[0]["env"];
    assert!(env["PLEDGE_DEPLOY_TARGET"].as_str().is_some_and(|t| t.contains("${{")), "the target comes from settings");
    for secret in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        assert_eq!(env[secret], format!("${{{{ secrets.{secret} }}}}"), "{secret} from the repository's secrets");
    }

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(infra("ci/site.sh")).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "infra/ci/site.sh is executable");
}

/// A systemd unit as section → key → values (a key may repeat).
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn unit(name: &str) -> Unit {
    let text = read(&infra("systemd").join(name));
    let mut sections = Unit::new();
    let mut current: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(section.to_string());
            sections.entry(section.to_string()).or_default();
            continue;
        }
        let section = current.as_ref().unwrap_or_else(|| panic!("{name}:{}: a setting before any section", number + 1));
        let (key, value) =
            line.split_once('=').unwrap_or_else(|| panic!("{name}:{}: not `key=value`: {line}", number + 1));
        sections.get_mut(section).unwrap().entry(key.trim().to_string()).or_default().push(value.trim().to_string());
    }
    sections
}

fn one<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a str {
    let values = unit.get(section).and_then(|s| s.get(key)).unwrap_or_else(|| panic!("no {key}= in [{section}]"));
    assert_eq!(values.len(), 1, "{key}= is set once");
    &values[0]
}

#[test]
fn systemd_units_run_the_binary_and_outlast_the_apis_graceful_shutdown() {
    let units: Vec<String> = std::fs::read_dir(infra("systemd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".service") || name.ends_with(".timer"))
        .collect();
    for name in [
        "pledge-api.service",
        "pledge-backup.service",
        "pledge-backup.timer",
        "pledge-uptime.service",
        "pledge-uptime.timer",
    ] {
        assert!(units.contains(&name.to_string()), "infra/systemd/{name}");
    }
    for name in &units {
        let parsed = unit(name);
        assert!(parsed.contains_key("Unit"), "{name} has [Unit]");
        if let Some(service) = name.strip_suffix(".timer") {
            assert!(parsed.contains_key("Timer") && parsed.contains_key("Install"), "{name} has [Timer] and [Install]");
            assert!(units.contains(&format!("{service}.service")), "{name} starts {service}.service");
        } else {
            assert!(parsed.contains_key("Service"), "{name} has [Service]");
            assert!(one(&parsed, "Service", "ExecStart").starts_with("/usr/local/bin/pledge "), "{name}");
        }
    }

    let api = unit("pledge-api.service");
    assert_eq!(one(&api, "Service", "ExecStart"), "/usr/local/bin/pledge api");
    assert_eq!(one(&api, "Service", "Type"), "simple");
    assert_eq!(one(&api, "Service", "EnvironmentFile"), "/etc/pledge/api.env");
    assert_eq!(one(&api, "Service", "KillSignal"), "SIGTERM");
    let stop = seconds(one(&api, "Service", "TimeoutStopSec"));
    let shutdown = api_default_seconds("shutdown_timeout_seconds");
    assert!(stop > shutdown, "systemd waits {stop} s, longer than the API's {shutdown} s shutdown");
    assert_eq!(one(&api, "Service", "Restart"), "on-failure");
    assert_eq!(one(&api, "Service", "LimitNOFILE"), "65536");
    assert_eq!(one(&api, "Service", "StateDirectory"), "pledge");
    assert!(one(&api, "Service", "ReadWritePaths").split_whitespace().any(|p| p == "/var/lib/pledge"));
    for (key, value) in
        [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes")]
    {
        assert_eq!(one(&api, "Service", key), value, "{key}");
    }
    let user = api["Service"].get("User").map(|u| u[0].as_str());
    let dynamic = api["Service"].get("DynamicUser").map(|d| d[0].as_str());
    assert!(dynamic == Some("yes") || user.is_some_and(|u| u != "root" && u != "0"), "the API never runs as root");

    // The database URL reaches `pledge backup` through the environment (see the next test),
    // never on the command line, where `ps` shows it.
    let backup = unit("pledge-backup.service");
    assert_eq!(one(&backup, "Service", "ExecStart"), "/usr/local/bin/pledge backup --to /var/backups/pledge --keep 14");
    assert_eq!(one(&backup, "Service", "EnvironmentFile"), "/etc/pledge/api.env");
    assert_eq!(one(&unit("pledge-backup.timer"), "Timer", "OnCalendar"), "hourly");

    let uptime = one(&unit("pledge-uptime.service"), "Service", "ExecStart").to_string();
    assert!(
        uptime.starts_with("/usr/local/bin/pledge check --live https://") && uptime.contains(" --api https://"),
        "{uptime}"
    );
    assert_eq!(one(&unit("pledge-uptime.timer"), "Timer", "OnCalendar"), "minutely");
}

/// `pledge SUBCOMMAND --help`, without the caller's PLEDGE_* variables (clap shows their values).
fn help(subcommand: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pledge"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PLEDGE_") {
            command.env_remove(name);
        }
    }
    let output = command.args([subcommand, "--help"]).output().unwrap();
    assert!(output.status.success(), "pledge {subcommand} --help: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn every_command_the_units_and_the_ci_script_run_exists_with_its_options() {
    for name in ["pledge-api.service", "pledge-backup.service", "pledge-uptime.service"] {
        let command = one(&unit(name), "Service", "ExecStart").to_string();
        let mut words = command.split_whitespace().skip(1);
        let subcommand = words.next().unwrap_or_else(|| panic!("{name}: no subcommand"));
        let usage = help(subcommand);
        for option in words.filter(|w| w.starts_with("--")) {
            assert!(usage.contains(&format!("{option} ")), "{name}: `pledge {subcommand}` has no {option}:\n{usage}");
        }
    }
    assert!(help("backup").contains("[env: PLEDGE_DATABASE_URL"), "pledge backup reads the URL from the environment");

    let script = read(&infra("ci/site.sh"));
    for (subcommand, options) in
        [("check", &["--root"][..]), ("build", &["--root", "--totals-from"]), ("deploy", &["--root", "--to"])]
    {
        assert!(
            script.contains(&format!("\"$pledge\" {subcommand}")) || script.contains(&format!("({subcommand} ")),
            "site.sh runs {subcommand}"
        );
        let usage = help(subcommand);
        for option in options {
            assert!(script.contains(option) && usage.contains(&format!("{option} ")), "pledge {subcommand} {option}");
        }
    }
}

#[test]
fn nginx_gives_up_idle_upstream_connections_before_the_api_does() {
    let conf = read(&infra("nginx/pledge.conf"));
    let upstream = conf.split("upstream pledge_api {").nth(1).expect("an upstream pledge_api block");
    let upstream = &upstream[..upstream.find('}').unwrap()];
    let timeout = upstream
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("keepalive_timeout "))
        .expect("the upstream sets keepalive_timeout");
    let nginx_idle = seconds(timeout.trim_end_matches(';'));
    let api_idle = api_default_seconds("keep_alive_seconds");
    assert!(nginx_idle < api_idle, "nginx's {nginx_idle} s must be shorter than the API's {api_idle} s keep-alive");
}

#[test]
fn the_example_environment_names_every_setting_in_the_readme() {
    let readme = read(&common::project_root().join("README.md"));
    let example = read(&infra("systemd/api.env.example"));
    let mut documented = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| `PLEDGE_")) {
        let first_cell = row.split('|').nth(1).unwrap();
        documented.extend(first_cell.split('`').filter(|name| name.starts_with("PLEDGE_")).map(str::to_string));
    }
    assert!(documented.len() > 20, "README's settings table was found: {documented:?}");
    for name in &documented {
        let set = example.lines().any(|l| l.trim_start_matches('#').starts_with(&format!("{name}=")));
        assert!(set, "infra/systemd/api.env.example shows {name}=");
    }
}

#[test]
fn systemd_analyze_accepts_the_units() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipping: systemd-analyze is not installed");
        return;
    };
    assert!(version.status.success());
    // `verify` checks that ExecStart's program exists: point the units at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(infra("systemd")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".service") || name.ends_with(".timer") {
            let text = read(&entry.path()).replace("/usr/local/bin/pledge", env!("CARGO_BIN_EXE_pledge"));
            std::fs::write(dir.path().join(&name), text).unwrap();
            paths.push(dir.path().join(&name));
        }
    }
    let verified = Command::new("systemd-analyze").args(["verify", "--man=no"]).args(&paths).output().unwrap();
    let problems: Vec<String> = String::from_utf8_lossy(&verified.stderr)
        .lines()
        .filter(|line| line.contains("pledge"))
        .map(str::to_string)
        .collect();
    assert!(
        verified.status.success() && problems.is_empty(),
        "systemd-analyze verify:\n{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[test]
fn the_container_image_builds_in_two_stages_and_runs_unprivileged() {
    let dockerfile = read(&infra("container/Dockerfile"));
    let instructions: Vec<(String, String)> = dockerfile
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (instruction, rest) = l.split_once(' ').unwrap_or((l, ""));
            (instruction.to_ascii_uppercase(), rest.trim().to_string())
        })
        .collect();
    let stages: Vec<usize> =
        instructions.iter().enumerate().filter(|(_, (i, _))| i == "FROM").map(|(at, _)| at).collect();
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    assert!(instructions[stages[0]].1.starts_with("rust:1-bookworm"), "{:?}", instructions[stages[0]]);
    let runtime = &instructions[*stages.last().unwrap()..];
    assert!(runtime[0].1.starts_with("debian:bookworm-slim"), "{:?}", runtime[0]);

    let build = instructions[..*stages.last().unwrap()]
        .iter()
        .filter(|(i, _)| i == "RUN")
        .map(|(_, r)| r.as_str())
        .collect::<String>();
    assert!(build.contains("cargo build --release --locked -p pledge"), "{build}");
    assert!(build.contains("--mount=type=cache,target=/usr/local/cargo/registry"), "the registry is cached");
    assert!(build.matches("--mount=type=cache").count() >= 2, "registry and target are cached");
    let manifest = read(&common::project_root().join("Cargo.toml"));
    assert!(manifest.contains("[package]\nname = \"pledge\""), "the root package `-p pledge` names");

    let users: Vec<&str> = runtime.iter().filter(|(i, _)| i == "USER").map(|(_, u)| u.as_str()).collect();
    let user = users.last().expect("the runtime stage sets a USER");
    assert!(!["root", "0", "0:0"].contains(user), "the runtime stage runs as {user}");
    let has = |instruction: &str, text: &str| runtime.iter().any(|(i, r)| i == instruction && r.contains(text));
    assert!(has("EXPOSE", "8080"));
    assert!(has("ENV", "PLEDGE_BIND=0.0.0.0:8080"));
    assert!(has("COPY", "/srv/pledge/site/config.toml"));
    assert!(has("RUN", "ca-certificates"), "TLS to payment gateways needs root certificates");
    assert!(
        runtime.iter().any(|(i, r)| (i == "CMD" || i == "ENTRYPOINT") && r.contains("api")),
        "it runs `pledge api`"
    );
    // Every file copied from the build context exists in the repository.
    for (_, copy) in instructions.iter().filter(|(i, r)| i == "COPY" && !r.starts_with("--from")) {
        let source = copy.split_whitespace().next().unwrap();
        assert!(common::project_root().join(source).exists(), "COPY {source}: no such file");
    }

    let ignored = read(&common::project_root().join(".dockerignore"));
    for path in ["target/", ".git/", ".pledge/", "site/public/"] {
        assert!(ignored.lines().any(|l| l.trim() == path), ".dockerignore leaves out {path}");
    }
}

/// The reference site's sources (not its build output) under a new root.
fn copy_reference_site(to: &Path) {
    let root = common::project_root();
    for folder in ["content", "themes", "site/templates", "site/static"] {
        if root.join(folder).is_dir() {
            copy_folder(&root.join(folder), &to.join(folder));
        }
    }
    std::fs::create_dir_all(to.join("site")).unwrap();
    std::fs::copy(root.join("site/config.toml"), to.join("site/config.toml")).unwrap();
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn run_site_script(root: &Path, deploy_target: Option<&Path>) -> std::process::Output {
    let mut command = Command::new("bash");
    command.arg(infra("ci/site.sh")).arg(root).env("PLEDGE", env!("CARGO_BIN_EXE_pledge")).env("RUST_LOG", "warn");
    command.env_remove("PLEDGE_DEPLOY_TARGET").env_remove("PLEDGE_TOTALS_FROM");
    if let Some(target) = deploy_target {
        command.env("PLEDGE_DEPLOY_TARGET", target);
    }
    command.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn the_ci_script_checks_builds_and_deploys_the_reference_site() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site-repo");
    copy_reference_site(&root);

    let built = run_site_script(&root, None);
    let log = format!("{}{}", String::from_utf8_lossy(&built.stdout), String::from_utf8_lossy(&built.stderr));
    assert!(built.status.success(), "infra/ci/site.sh failed:\n{log}");
    assert!(log.contains("No problems"), "it checked first:\n{log}");
    assert!(root.join("site/public/index.html").is_file(), "it built:\n{log}");
    assert!(log.contains("not deployed"), "no target, no deploy:\n{log}");

    // A broken page fails the pipeline before anything is built or deployed.
    let broken_page = root.join("content/broken.md");
    std::fs::write(&broken_page, "+++\ntitle = \"Broken\"\n+++\n[a link](@/no-such-page.md)\n").unwrap();
    let broken = run_site_script(&root, Some(&dir.path().join("never")));
    let log = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success(), "a broken link fails the script");
    assert!(log.contains("broken.md"), "the problem names its file:\n{log}");
    assert!(!dir.path().join("never").exists(), "nothing is deployed after a failed check");
    std::fs::remove_file(&broken_page).unwrap();

    let help = Command::new(env!("CARGO_BIN_EXE_pledge")).arg("--help").output().unwrap();
    let has_deploy = String::from_utf8_lossy(&help.stdout).lines().any(|l| l.trim_start().starts_with("deploy "));
    if !has_deploy {
        eprintln!("`pledge deploy` does not exist yet: only check and build were run");
        return;
    }
    let target = dir.path().join("deployed");
    let deployed = run_site_script(&root, Some(&target));
    let log = format!("{}{}", String::from_utf8_lossy(&deployed.stdout), String::from_utf8_lossy(&deployed.stderr));
    assert!(deployed.status.success(), "infra/ci/site.sh with a target failed:\n{log}");
    assert!(target.join("current/index.html").is_file(), "the deploy target serves the build from current/:\n{log}");
}
