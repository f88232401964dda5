//! The host daemon: owns the sessions, listens on the Unix socket, answers requests.
//!
//! One file per concern, all driven by [`run`]:
//! - [`conn`]: socket security, the handshake and one connection's request loop, which
//!   dispatches each request to the piece that owns it;
//! - [`table`]: the session table (new, list, input, pause, kill, rm, revive, ...);
//! - [`broker`]: the ask broker (asks, watchers, decisions, notices);
//! - [`attach`]: attach mode, terminal bytes both ways;
//! - [`terminal`]: a terminal handed over by `walkie attach`, read and written by the host;
//! - [`screens`]: screen watchers, told when a session's screen changed (no polling);
//! - [`boundary`]: sessions' sandboxes (preflight, profile to boundary to mechanism, the
//!   trampoline argv, one allowlist proxy per session, the boundary card's content).
//!
//! Shutdown is one [`CancellationToken`] handed down to every connection (as mini-redis hands
//! its `Shutdown`): each loop selects on it, and [`run`] then ends the sessions.
//!
//! The host is a child subreaper ([`crate::lineage`]): the orphans of its sessions become its
//! children, and it reaps them on SIGCHLD, so none lingers as a zombie.
//!
//! Private state: the state directory is 0700 and its files (`host.db*`, `host.log`) 0600
//! whatever the umask, tightened at start if an older walkie or the user left them looser.

mod attach;
mod boundary;
mod broker;
mod conn;
mod screens;
mod table;
mod terminal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use walkie_host_proto::protocol::{ErrorKind, NewSession, Reply};

use crate::record::{RecordingOptions, Recordings};
use crate::revive::ReviveMode;
use crate::screen::{secret_values, Secrets};
use crate::session::SessionSettings;
use crate::store::{Store, StoreError};
use boundary::Sandboxes;
pub use boundary::{SandboxOptions, SaveAlways};
use broker::Broker;
use table::{Table, TableOptions};

/// Everything the host needs to run, built by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// Size of a session created without one.
    pub default_cols: u16,
    pub default_rows: u16,
    /// How long `kill` (and shutdown) waits after SIGHUP/SIGTERM before SIGKILL.
    pub kill_grace: Duration,
    pub session: SessionSettings,
    /// Secret values from the configuration (the bot token), masked on every screen the host
    /// answers, with the values of `session.secret_env` in the host's environment at start.
    pub secret_values: Vec<String>,
    pub recording: RecordingOptions,
    /// What comes back by itself when the host starts (`host.revive`).
    pub revive: ReviveMode,
    /// Session boundaries (`[sandbox]`).
    pub sandbox: SandboxOptions,
    /// Expands a session asked for by preset (`NewSession.expand`); `None` refuses them.
    pub presets: Option<Presets>,
}

/// Expands a [`NewSession`] that names a preset (`expand`) into the session to start on this
/// machine: the command with its agent's hooks (this machine's walkie), the env with the
/// agent's home (this machine's state dir). The binary gives it: this crate knows no
/// configuration. The error is the phone's message. Blocking (it writes the agent's home):
/// called off the runtime.
#[derive(Clone)]
pub struct Presets(pub Arc<ExpandFn>);

/// A `NewSession` naming a preset → the expanded one, or why there is none.
pub type ExpandFn = dyn Fn(NewSession) -> Result<NewSession, String> + Send + Sync;

impl std::fmt::Debug for Presets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Presets")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("another walkie host is already running on {0}")]
    AlreadyRunning(PathBuf),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What every connection shares.
struct Host {
    table: Table,
    broker: Arc<Broker>,
    /// Only this uid may connect.
    uid: u32,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn err(kind: ErrorKind, message: impl Into<String>) -> Reply {
    Reply::Error {
        kind,
        message: message.into(),
    }
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.into(),
        source,
    }
}

/// The state directory 0700 and every file the host keeps there 0600 (the database opener
/// tightens its own files; `host.log` is opened by whoever starts the host).
fn private_state(dir: &std::path::Path) -> Result<(), HostError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
    let log = dir.join("host.log");
    if log.exists() {
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&log))?;
    }
    Ok(())
}

/// Runs the host until `shutdown` is cancelled. On shutdown every session is sent SIGHUP
/// (as when a terminal closes) and recorded as lost, so the next start (or `walkie revive`)
/// brings it back.
pub async fn run(opts: HostOptions, shutdown: CancellationToken) -> Result<(), HostError> {
    private_state(&opts.state_dir)?;
    if let Err(e) = crate::lineage::become_subreaper() {
        // Without it a double fork leaves the tree and is no longer seen as inside.
        tracing::error!("cannot become a child subreaper: {e}");
    }
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .map_err(io_err(&opts.state_dir))?;
    let listener = conn::bind(&opts.socket).await?;
    let store = Store::open(&opts.state_dir.join("host.db")).await?;
    let socket = opts.socket.clone();
    // The secret values, read once: the configured ones and those of the secret variables in
    // the host's own environment, masked on every text view and in recordings alike.
    let secret_values = secret_values(&opts.session.secret_env, &opts.secret_values, |n| {
        std::env::var(n).ok()
    });
    let recordings = Recordings::new(&opts.recording, &opts.state_dir, secret_values.clone());
    let secrets = Secrets::new(secret_values);
    // Ids start from the host's start time, so a stale button can never decide an ask of a
    // newer host.
    let broker = Arc::new(Broker::new(now_ms() * 1000));
    let sandboxes = Sandboxes::start(opts.sandbox.clone(), socket.clone(), broker.clone()).await;
    let (table, mut exits) = Table::open(
        TableOptions::new(opts, secrets, recordings.clone()),
        store,
        sandboxes,
    )
    .await?;
    let host = Arc::new(Host {
        table,
        broker,
        uid: nix::unistd::getuid().as_raw(),
    });
    tracing::info!(socket = %socket.display(), pid = std::process::id(), "walkie host listening");

    let tasks = tokio_util::task::TaskTracker::new();
    // The sessions the previous host left running come back while the socket already
    // answers; the report waits in the broker for the first watcher (the bot).
    let h = host.clone();
    tasks.spawn(async move {
        let started = std::time::Instant::now();
        let report = h.table.revive_pending().await;
        if !report.is_empty() {
            tracing::info!(
                sessions = report.len(),
                ms = started.elapsed().as_millis() as u64,
                "revival after restart done"
            );
            h.broker.revived(report);
        }
    });
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(exit) = exits.recv() => host.table.record_exit(exit).await,
            Some(()) = sigchld.recv() => {
                // Reading /proc and waitpid are blocking calls: off the runtime.
                if let Ok(n) = tokio::task::spawn_blocking(crate::lineage::reap_orphans).await {
                    if n > 0 {
                        tracing::debug!(reaped = n, "reaped orphans of sessions");
                    }
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tasks.spawn(conn::serve(host.clone(), stream, shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: keep serving the connections we have.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::info!("shutting down: ending sessions");
    let _ = std::fs::remove_file(&socket);
    host.table.end_all().await;
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
    // The recorder thread writes out what it holds (bounded: a stuck disk must not hold the
    // host's exit).
    if let Some(r) = &recordings {
        r.flush(Duration::from_secs(2)).await;
    }
    host.table.close().await;
    Ok(())
}
