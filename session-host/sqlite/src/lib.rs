//! walkie's one way to open a SQLite database, used by every store (the host's session
//! records, the bot's state): open by file name, private files, WAL, and migrations by
//! `sqlx::migrate!()`.
//!
//! ```text
//! static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
//! let pool = walkie_sqlite::open(&state_dir.join("host.db"), &MIGRATOR).await?;
//! ```
//!
//! # Layout
//! - [`open`]: creates the directory and file private (0700 / 0600, whatever the umask, and
//!   tightened if they exist), connects (WAL, `synchronous = NORMAL`, busy timeout, foreign
//!   keys on) and runs the crate's migrations.
//! - [`Error`]: which of those steps failed, and on which path.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// How long a statement waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per pool: WAL lets readers run beside the one writer.
const MAX_CONNECTIONS: u32 = 4;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate the database {path}: {source}")]
    Migrate { path: PathBuf, source: MigrateError },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// Opens (creating if needed) the database file `path` and brings its schema up to date with
/// `migrator`.
///
/// `path` is a file name, never a `sqlite://` URL, so a directory with `?` or `#` in its name
/// is fine. Its directory is created 0700 and the file 0600; both are tightened to that if
/// they exist with looser modes, since a store holds who may act and what was typed.
pub async fn open(path: &Path, migrator: &'static Migrator) -> Result<SqlitePool, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        std::fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    // Created here rather than by SQLite, whose mode follows the umask.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    tighten(path)?;
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL is durable against the process being killed; only a power cut
        // can lose the last commit.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(opts)
        .await
        .map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
    // SQLite gives the -wal and -shm files the main file's mode; older ones may be looser.
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            tighten(&side)?;
        }
    }
    migrator.run(&pool).await.map_err(|source| Error::Migrate {
        path: path.into(),
        source,
    })?;
    Ok(pool)
}

fn tighten(path: &Path) -> Result<(), Error> {
    std::fs::set_permissions(path, Permissions::from_mode(0o600)).map_err(io(path))
}
