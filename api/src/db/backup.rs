//! Backups while the API runs, their rotation, and restores.
//!
//! SQLite is copied with `VACUUM INTO`, which reads one consistent snapshot through SQLite
//! itself while writers carry on (copying the file would tear it between the database and its
//! WAL). PostgreSQL is dumped with `pg_dump` in its custom format, also a consistent snapshot
//! without locking writers out. Either way the file is written under a temporary name and
//! renamed when complete, so a backup that is there is whole.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

const PREFIX: &str = "pledge-";
const SQLITE_SUFFIX: &str = ".sqlite3";
const POSTGRES_SUFFIX: &str = ".pgdump";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("SQLite: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("`{command}` could not run: {source} (is the PostgreSQL client installed?)")]
    Spawn { command: &'static str, source: std::io::Error },
    #[error("`{command}` failed: {stderr}")]
    Command { command: &'static str, stderr: String },
    #[error("not a database URL this command knows: use sqlite:… or postgres://…")]
    UnsupportedUrl,
    #[error("{} is not a {expected} backup", path.display())]
    WrongKind { path: PathBuf, expected: &'static str },
    #[error("{} failed its integrity check: {report}", path.display())]
    Corrupt { path: PathBuf, report: String },
    #[error("{} exists; pass --force to replace it (stop the API first)", path.display())]
    TargetExists { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

enum Database<'a> {
    /// Read as the store reads it, so both agree on which file a URL names.
    Sqlite(Box<SqliteConnectOptions>),
    Postgres(&'a str),
}

impl<'a> Database<'a> {
    fn parse(url: &'a str) -> Result<Self, BackupError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(Box::new(SqliteConnectOptions::from_str(url)?)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url))
        } else {
            Err(BackupError::UnsupportedUrl)
        }
    }

    fn suffix(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => SQLITE_SUFFIX,
            Self::Postgres(_) => POSTGRES_SUFFIX,
        }
    }
}

/// What a backup run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    /// Older backups deleted to keep `keep`.
    pub removed: Vec<PathBuf>,
}

/// Backs the database at `url` up into `dir` as `pledge-<UTC time>.sqlite3` or `.pgdump`, then
/// deletes all but the newest `keep` backups of that kind.
pub async fn backup(url: &str, dir: &Path, keep: usize) -> Result<BackupReport, BackupError> {
    let database = Database::parse(url)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let suffix = database.suffix();
    let name = format!("{PREFIX}{}{suffix}", timestamp());
    let file = dir.join(&name);
    let partial = dir.join(format!(".{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    match database {
        Database::Sqlite(options) => {
            let mut connection = SqliteConnection::connect_with(&options.read_only(true)).await?;
            sqlx::query("VACUUM INTO ?1").bind(partial.to_string_lossy().into_owned()).execute(&mut connection).await?;
            connection.close().await?;
        }
        Database::Postgres(url) => {
            let mut dump = Command::new("pg_dump");
            dump.args(["--format=custom", "--no-owner", "--file"]).arg(&partial).arg(url);
            run("pg_dump", dump)?;
        }
    }
    sync_file(&partial)?;
    std::fs::rename(&partial, &file).map_err(io(&file))?;
    sync_dir(dir)?;
    let bytes = std::fs::metadata(&file).map_err(io(&file))?.len();
    let removed = rotate(dir, suffix, keep)?;
    Ok(BackupReport { file, bytes, removed })
}

/// Restores `file` into the database at `url`. SQLite: the file is checked, then put in place
/// of the database (the API must be stopped; `force` to replace an existing database).
/// PostgreSQL: the dump is restored in one transaction, replacing the objects it holds.
pub async fn restore(url: &str, file: &Path, force: bool) -> Result<(), BackupError> {
    match Database::parse(url)? {
        Database::Sqlite(options) => {
            if !file.to_string_lossy().ends_with(SQLITE_SUFFIX) {
                return Err(BackupError::WrongKind { path: file.to_path_buf(), expected: "SQLite" });
            }
            check_sqlite(file).await?;
            let target = options.get_filename();
            if target.exists() && !force {
                return Err(BackupError::TargetExists { path: target.to_path_buf() });
            }
            let staged = target.with_extension("restoring");
            std::fs::copy(file, &staged).map_err(io(&staged))?;
            sync_file(&staged)?;
            // A WAL left by the old database would be replayed onto the restored one.
            for side in ["-wal", "-shm"] {
                let mut name = target.as_os_str().to_owned();
                name.push(side);
                let _ = std::fs::remove_file(name);
            }
            std::fs::rename(&staged, target).map_err(io(target))?;
            if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Database::Postgres(url) => {
            if !file.to_string_lossy().ends_with(POSTGRES_SUFFIX) {
                return Err(BackupError::WrongKind { path: file.to_path_buf(), expected: "PostgreSQL" });
            }
            let mut restore = Command::new("pg_restore");
            restore
                .args(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", "--dbname"])
                .arg(url)
                .arg(file);
            run("pg_restore", restore)
        }
    }
}

async fn check_sqlite(file: &Path) -> Result<(), BackupError> {
    let options = SqliteConnectOptions::new().filename(file).read_only(true);
    let mut connection = SqliteConnection::connect_with(&options).await?;
    let report: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut connection).await?;
    connection.close().await?;
    if report == "ok" { Ok(()) } else { Err(BackupError::Corrupt { path: file.to_path_buf(), report }) }
}

fn run(command: &'static str, mut process: Command) -> Result<(), BackupError> {
    let output = process.output().map_err(|source| BackupError::Spawn { command, source })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Command { command, stderr: String::from_utf8_lossy(&output.stderr).trim().to_string() })
    }
}

/// Sortable and unique enough: two backups in one millisecond would be one too many anyway.
fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Keeps the newest `keep` backups ending in `suffix` (names sort by time), at least one.
fn rotate(dir: &Path, suffix: &str, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(suffix))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep.max(1));
    let removed: Vec<PathBuf> = backups.drain(..excess).collect();
    for path in &removed {
        std::fs::remove_file(path).map_err(io(path))?;
    }
    Ok(removed)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_newest_of_one_kind() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "pledge-20260101T000000.000Z.sqlite3",
            "pledge-20260102T000000.000Z.sqlite3",
            "pledge-20260103T000000.000Z.sqlite3",
            "pledge-20260101T000000.000Z.pgdump",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = rotate(dir.path(), SQLITE_SUFFIX, 2).unwrap();
        assert_eq!(removed, [dir.path().join("pledge-20260101T000000.000Z.sqlite3")]);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "pledge-20260101T000000.000Z.pgdump",
                "pledge-20260102T000000.000Z.sqlite3",
                "pledge-20260103T000000.000Z.sqlite3"
            ]
        );
    }

    #[test]
    fn urls_name_their_database() {
        let Ok(Database::Sqlite(options)) = Database::parse("sqlite:data/pledge.db") else { panic!("SQLite") };
        assert_eq!(options.get_filename(), Path::new("data/pledge.db"));
        assert!(matches!(Database::parse("postgres://u@h/db"), Ok(Database::Postgres(_))));
        assert!(matches!(Database::parse("mysql://x"), Err(BackupError::UnsupportedUrl)));
    }
}
