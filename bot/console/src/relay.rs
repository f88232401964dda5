//! The running bot's view and links for the CLI on this machine (`walkie attach api@cloud`,
//! `walkie hosts` while `walkie up` runs).
//!
//! - Per remote host a Unix socket beside the host socket, `$XDG_RUNTIME_DIR/walkie/hosts/
//!   NAME.sock` by default ([`socket_path`]: 0600 in a 0700 directory, and a peer of another uid refused as the host socket refuses it),
//!   whose every connection becomes one more channel of the fleet's ssh connection to that
//!   host, bytes copied both ways. The caller speaks the host protocol through it, hello
//!   and version handshake included, so the relay needs no protocol of its own and the box
//!   sees no second ssh connection. Channels count against sshd's `MaxSessions` (10 by
//!   default; the bot holds three, four while it follows a screen there), so at most [`MAX_RELAYED`] relay at once per host.
//! - [`status_path`]: the fleet's status of each host (state, since, latency), rewritten
//!   every ping (0600), with the bot's pid; `walkie hosts` shows it when it is fresh.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use walkie_config::Config;
use walkie_host_proto::protocol::{ErrorKind, Frame, FrameCodec, Reply};

use crate::fleet::{Fleet, HostStatus, Remote, PING_EVERY};

/// Connections relayed at once per host (each is an ssh channel).
pub const MAX_RELAYED: usize = 4;
/// A status file older than this is not the bot's view any more.
pub const STATUS_FRESH: Duration = Duration::from_secs(15);

/// Where the relay sockets and the status file live: beside the host socket.
pub fn dir(cfg: &Config) -> PathBuf {
    let socket = cfg.socket_path();
    socket
        .parent()
        .map_or_else(|| cfg.state_dir(), Path::to_path_buf)
        .join("hosts")
}

/// The relay socket of remote host `host`.
pub fn socket_path(cfg: &Config, host: &str) -> PathBuf {
    dir(cfg).join(format!("{host}.sock"))
}

/// The bot's status file.
pub fn status_path(cfg: &Config) -> PathBuf {
    dir(cfg).join("status.json")
}

/// One host as the status file has it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostView {
    pub name: String,
    /// [`HostStatus::describe`]: `up 12 ms`, `connecting`, `down since 12:03 (why)`.
    pub state: String,
    pub up: bool,
}

/// The status file: who wrote it, when, and each remote host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub pid: u32,
    /// Unix seconds.
    pub written_at: u64,
    pub hosts: Vec<HostView>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Status {
    /// The file at `path` if a live bot wrote it lately; `None` otherwise.
    pub fn read_fresh(path: &Path) -> Option<Status> {
        let text = std::fs::read_to_string(path).ok()?;
        let s: Status = serde_json::from_str(&text).ok()?;
        let age = unix_now().saturating_sub(s.written_at);
        // A bot killed without cleaning up leaves its file: its pid is gone.
        let alive = Path::new(&format!("/proc/{}", s.pid)).exists();
        (alive && age <= STATUS_FRESH.as_secs()).then_some(s)
    }
}

/// Makes `dir` (0700) for the sockets and the file.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `status` to `path` whole (a temporary file renamed over it), 0600.
fn write_status(path: &Path, status: &Status) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(status).map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
    }
    std::fs::rename(&tmp, path)
}

/// Binds `path` (0600); a socket another bot still answers on is left to it.
async fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another walkie up relays this host",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves the relay sockets and keeps the status file until `shutdown`, then removes them.
/// (`select_all` below needs at least one host: none, nothing to serve.)
pub async fn serve(fleet: Arc<Fleet>, cfg: Config, shutdown: CancellationToken) {
    if fleet.remotes().is_empty() {
        return;
    }
    let dir = dir(&cfg);
    if let Err(e) = private_dir(&dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "no relay for the CLI");
        return;
    }
    let uid = nix_uid();
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    for r in fleet.remotes() {
        let path = socket_path(&cfg, &r.name);
        match bind(&path).await {
            Ok(l) => {
                bound.push(path);
                tasks.push(tokio::spawn(accept(l, r.clone(), uid, shutdown.clone())));
            }
            Err(e) => {
                tracing::warn!(host = %r.name, socket = %path.display(), error = %e, "no relay for the CLI")
            }
        }
    }
    let status = status_path(&cfg);
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watches: Vec<_> = fleet.remotes().iter().map(|r| r.watch_status()).collect();
    loop {
        let s = Status {
            pid: std::process::id(),
            written_at: unix_now(),
            hosts: fleet
                .remotes()
                .iter()
                .map(|r| {
                    let st: HostStatus = r.status();
                    HostView {
                        name: r.name.clone(),
                        state: st.describe(),
                        up: st.is_up(),
                    }
                })
                .collect(),
        };
        let (path, s2) = (status.clone(), s);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || write_status(&path, &s2)).await {
            tracing::warn!(file = %status.display(), error = %e, "cannot write the hosts' status");
        }
        let changed = futures::future::select_all(
            watches
                .iter_mut()
                .map(|w| Box::pin(async move { w.changed().await })),
        );
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            _ = changed => {}
        }
    }
    for t in &tasks {
        t.abort();
    }
    for p in bound.iter().chain([&status]) {
        let _ = std::fs::remove_file(p);
    }
}

fn nix_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Accepts relay connections for `r` until aborted.
async fn accept(l: UnixListener, r: Arc<Remote>, uid: u32, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_RELAYED));
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = l.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(host = %r.name, error = %e, "relay accept");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let peer = stream.peer_cred().ok().map(|c| c.uid());
        if peer != Some(uid) {
            tracing::warn!(host = %r.name, ?peer, "refused a relay connection from another user");
            tokio::spawn(refuse(
                stream,
                ErrorKind::PermissionDenied,
                "this walkie belongs to another user".into(),
            ));
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let why = format!(
                "{} already relays {MAX_RELAYED} connections to {} (sshd's MaxSessions); detach one",
                "walkie up", r.name
            );
            tokio::spawn(refuse(stream, ErrorKind::Internal, why));
            continue;
        };
        let r = r.clone();
        tokio::spawn(async move {
            let _slot = slot;
            relay(stream, &r).await;
        });
    }
}

/// Copies one connection to a new channel of `r`'s link and back until either side ends.
async fn relay(mut stream: UnixStream, r: &Remote) {
    let mut channel = match r.raw_channel().await {
        Ok(c) => c,
        Err(why) => return refuse(stream, ErrorKind::Internal, why).await,
    };
    tracing::info!(host = %r.name, "relaying a CLI connection over the bot's link");
    match tokio::io::copy_bidirectional(&mut stream, &mut channel).await {
        Ok((up, down)) => tracing::info!(host = %r.name, up, down, "relay ended"),
        Err(e) => tracing::info!(host = %r.name, error = %e, "relay ended"),
    }
}

/// Answers the caller's hello with an error, so it says why instead of a closed socket.
async fn refuse(stream: UnixStream, kind: ErrorKind, message: String) {
    let mut conn = Framed::new(stream, FrameCodec);
    // Read the hello first: closing with unread data would reset the connection.
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.next()).await;
    let _ = conn
        .send(Frame::Reply(Reply::Error { kind, message }))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_file_counts_only_while_its_bot_lives_and_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let mut s = Status {
            pid: std::process::id(),
            written_at: unix_now(),
            hosts: vec![HostView {
                name: "cloud".into(),
                state: "up 3 ms".into(),
                up: true,
            }],
        };
        write_status(&path, &s).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(Status::read_fresh(&path), Some(s.clone()));
        s.written_at -= STATUS_FRESH.as_secs() + 1;
        write_status(&path, &s).unwrap();
        assert_eq!(Status::read_fresh(&path), None, "stale");
        s.written_at = unix_now();
        s.pid = u32::MAX;
        write_status(&path, &s).unwrap();
        assert_eq!(Status::read_fresh(&path), None, "its bot is gone");
    }

    #[test]
    fn sockets_sit_beside_the_host_socket() {
        let cfg = Config::from_toml("state_dir = \"/st\"\n[host]\nsocket = \"/run/w/host.sock\"\n")
            .unwrap();
        assert_eq!(
            socket_path(&cfg, "cloud"),
            PathBuf::from("/run/w/hosts/cloud.sock")
        );
        assert_eq!(status_path(&cfg), PathBuf::from("/run/w/hosts/status.json"));
    }
}
