//! The async client used by the `walkie` commands and the bot.
//!
//! [`Client`] speaks the protocol over any async byte stream: [`Client::connect`] opens the
//! host's Unix socket, [`Client::over`] greets over a stream the caller already has (an ssh
//! channel to a remote host's socket). [`Client::connect_or_spawn`] starts a local host in the
//! background when none answers, as tmux starts its server on first use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use crate::ask::{AskPayload, Decision, NoticeKind};
pub use crate::protocol::Stream;
use crate::protocol::{
    ErrorKind, Frame, FrameCodec, FrameError, NewSession, PendingAsk, Reply, Request, SessionInfo,
    PROTOCOL_VERSION,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no walkie host is running on {0} (start one with `walkie host`, or drop --no-spawn)")]
    NotRunning(PathBuf),
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a walkie host: {0}")]
    Spawn(String),
    #[error("the host closed the connection")]
    Closed,
    #[error("protocol error: {0}")]
    Frame(#[from] FrameError),
    #[error("unexpected reply from the host: {0}")]
    Unexpected(String),
    /// The host refused the request; `kind` says why.
    #[error("{message}")]
    Host { kind: ErrorKind, message: String },
}

/// A connection to the host, greeted.
pub struct Client<S = UnixStream> {
    conn: Framed<S, FrameCodec>,
    /// The host's process id.
    pub host_pid: u32,
}

/// How to start a host when none runs.
#[derive(Debug, Clone)]
pub struct SpawnHost {
    /// The `walkie` executable.
    pub exe: PathBuf,
    /// Where the host's log goes.
    pub log: PathBuf,
    /// Variables removed from the host's environment (secrets).
    pub remove_env: Vec<String>,
}

impl Client<UnixStream> {
    /// Connects to a local host's socket and greets; fails with [`ClientError::NotRunning`]
    /// if nothing listens.
    pub async fn connect(socket: &Path) -> Result<Client, ClientError> {
        let stream = match UnixStream::connect(socket).await {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Err(ClientError::NotRunning(socket.into()))
            }
            Err(source) => {
                return Err(ClientError::Connect {
                    path: socket.into(),
                    source,
                })
            }
        };
        Client::over(stream).await
    }

    /// Connects, starting a host first if none answers and `spawn` is given.
    pub async fn connect_or_spawn(
        socket: &Path,
        spawn: Option<&SpawnHost>,
    ) -> Result<Client, ClientError> {
        match Client::connect(socket).await {
            Err(ClientError::NotRunning(_)) if spawn.is_some() => {}
            other => return other,
        }
        let Some(sp) = spawn else {
            return Err(ClientError::NotRunning(socket.into()));
        };
        start_host(sp, socket)?;
        // Bounded wait for the new host to listen.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match Client::connect(socket).await {
                Ok(c) => return Ok(c),
                Err(ClientError::NotRunning(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(ClientError::NotRunning(_)) => {
                    return Err(ClientError::Spawn(format!(
                        "it did not start listening within 10 s; see {}",
                        sp.log.display()
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<S: Stream> Client<S> {
    /// Greets the host over `stream`; a host of another protocol version refuses with
    /// [`ErrorKind::Version`].
    pub async fn over(stream: S) -> Result<Client<S>, ClientError> {
        let mut c = Client {
            conn: Framed::new(stream, FrameCodec),
            host_pid: 0,
        };
        match c
            .call(Request::Hello {
                version: PROTOCOL_VERSION,
            })
            .await?
        {
            Reply::Hello { pid, .. } => {
                c.host_pid = pid;
                Ok(c)
            }
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends one request and reads its reply; a host error becomes [`ClientError::Host`].
    pub async fn call(&mut self, req: Request) -> Result<Reply, ClientError> {
        if let Err(e) = self.conn.send(Frame::Request(req)).await {
            // The host may have refused us and closed: its reason beats "broken pipe".
            if let Ok(Some(Ok(Frame::Reply(Reply::Error { kind, message })))) =
                tokio::time::timeout(Duration::from_secs(1), self.conn.next()).await
            {
                return Err(ClientError::Host { kind, message });
            }
            return Err(e.into());
        }
        match self.next_reply().await? {
            Reply::Error { kind, message } => Err(ClientError::Host { kind, message }),
            r => Ok(r),
        }
    }

    async fn next_reply(&mut self) -> Result<Reply, ClientError> {
        loop {
            match self.conn.next().await {
                None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Frame::Reply(r))) => return Ok(r),
                Some(Ok(Frame::Data(_))) => continue,
                Some(Ok(Frame::Request(r))) => {
                    return Err(ClientError::Unexpected(format!("{r:?}")))
                }
            }
        }
    }

    pub async fn new_session(&mut self, spec: NewSession) -> Result<String, ClientError> {
        match self.call(Request::New(spec)).await? {
            Reply::Created { name } => Ok(name),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    pub async fn list(&mut self) -> Result<Vec<SessionInfo>, ClientError> {
        match self.call(Request::List).await? {
            Reply::Sessions { sessions } => Ok(sessions),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Types `chunks`, each a separate write.
    pub async fn input(&mut self, name: &str, chunks: Vec<Vec<u8>>) -> Result<(), ClientError> {
        self.call(Request::Input {
            name: name.into(),
            chunks,
        })
        .await
        .map(|_| ())
    }

    /// Types `text`, then Enter as a separate write when `enter`.
    pub async fn send_text(
        &mut self,
        name: &str,
        text: &str,
        enter: bool,
    ) -> Result<(), ClientError> {
        let mut chunks = Vec::new();
        if !text.is_empty() {
            chunks.push(text.as_bytes().to_vec());
        }
        if enter {
            chunks.push(b"\r".to_vec());
        }
        self.input(name, chunks).await
    }

    async fn text(&mut self, req: Request) -> Result<String, ClientError> {
        match self.call(req).await? {
            Reply::Text { text } => Ok(text),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    pub async fn screen(&mut self, name: &str, ansi: bool) -> Result<String, ClientError> {
        self.text(Request::Screen {
            name: name.into(),
            ansi,
        })
        .await
    }

    pub async fn tail(&mut self, name: &str, lines: usize) -> Result<String, ClientError> {
        self.text(Request::Tail {
            name: name.into(),
            lines,
        })
        .await
    }

    async fn info(&mut self, req: Request) -> Result<SessionInfo, ClientError> {
        match self.call(req).await? {
            Reply::Info { session } => Ok(session),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    pub async fn pause(&mut self, name: &str) -> Result<SessionInfo, ClientError> {
        self.info(Request::Pause { name: name.into() }).await
    }

    pub async fn resume(&mut self, name: &str) -> Result<SessionInfo, ClientError> {
        self.info(Request::Resume { name: name.into() }).await
    }

    pub async fn kill(&mut self, name: &str, force: bool) -> Result<SessionInfo, ClientError> {
        self.info(Request::Kill {
            name: name.into(),
            force,
        })
        .await
    }

    pub async fn wait(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<SessionInfo, ClientError> {
        self.info(Request::Wait {
            name: name.into(),
            timeout_ms: timeout.as_millis() as u64,
        })
        .await
    }

    pub async fn rm(&mut self, name: &str) -> Result<(), ClientError> {
        self.call(Request::Rm { name: name.into() })
            .await
            .map(|_| ())
    }

    pub async fn revive(&mut self, name: &str) -> Result<String, ClientError> {
        match self.call(Request::Revive { name: name.into() }).await? {
            Reply::Created { name } => Ok(name),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Enters attach mode; returns the session's info. Then use [`Client::into_framed`].
    pub async fn attach(
        &mut self,
        name: &str,
        cols: u16,
        rows: u16,
    ) -> Result<SessionInfo, ClientError> {
        match self
            .call(Request::Attach {
                name: name.into(),
                cols,
                rows,
            })
            .await?
        {
            Reply::Attached { session } => Ok(session),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Asks whoever watches (the bot) to decide; waits for the decision up to `timeout`.
    /// A `Timeout` host error means nobody decided in time.
    pub async fn ask(
        &mut self,
        session: &str,
        payload: AskPayload,
        timeout: Duration,
    ) -> Result<Decision, ClientError> {
        match self
            .call(Request::Ask {
                session: session.into(),
                payload,
                timeout_ms: timeout.as_millis() as u64,
            })
            .await?
        {
            Reply::Decided { decision, .. } => Ok(decision),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Tells the watchers (the bot) about an event in a session.
    pub async fn notice(
        &mut self,
        session: &str,
        kind: NoticeKind,
        text: &str,
    ) -> Result<(), ClientError> {
        self.call(Request::Notice {
            session: session.into(),
            kind,
            text: text.into(),
        })
        .await
        .map(|_| ())
    }

    /// Decides a pending ask; `AlreadyDecided` when someone was first.
    pub async fn decide(&mut self, id: u64, decision: Decision) -> Result<(), ClientError> {
        self.call(Request::Decide { id, decision })
            .await
            .map(|_| ())
    }

    /// Turns this connection into a stream of asks ([`AskEvent`]s): the pending ones first.
    pub async fn watch_asks(mut self) -> Result<AskWatch<S>, ClientError> {
        self.call(Request::WatchAsks).await?;
        Ok(AskWatch { conn: self.conn })
    }

    /// The raw framed connection, for attach mode.
    pub fn into_framed(self) -> Framed<S, FrameCodec> {
        self.conn
    }
}

/// What a watcher of asks sees.
#[derive(Debug, Clone, PartialEq)]
pub enum AskEvent {
    Asked(PendingAsk),
    Closed {
        id: u64,
        decision: Option<Decision>,
    },
    Notice {
        session: String,
        kind: NoticeKind,
        text: String,
    },
}

/// A stream of asks from the host.
pub struct AskWatch<S = UnixStream> {
    conn: Framed<S, FrameCodec>,
}

impl<S: Stream> AskWatch<S> {
    /// The next event; `None` when the host closed the stream (reconnect to resync).
    pub async fn next(&mut self) -> Option<Result<AskEvent, ClientError>> {
        loop {
            return match self.conn.next().await? {
                Err(e) => Some(Err(e.into())),
                Ok(Frame::Reply(Reply::Asked { ask })) => Some(Ok(AskEvent::Asked(ask))),
                Ok(Frame::Reply(Reply::AskClosed { id, decision })) => {
                    Some(Ok(AskEvent::Closed { id, decision }))
                }
                Ok(Frame::Reply(Reply::Notice {
                    session,
                    kind,
                    text,
                })) => Some(Ok(AskEvent::Notice {
                    session,
                    kind,
                    text,
                })),
                Ok(_) => continue,
            };
        }
    }
}

/// Starts `walkie host` detached from this terminal (its own session), logging to a file.
fn start_host(sp: &SpawnHost, socket: &Path) -> Result<(), ClientError> {
    use std::os::unix::process::CommandExt;
    if let Some(dir) = sp.log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClientError::Spawn(format!("{}: {e}", dir.display())))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&sp.log)
        .map_err(|e| ClientError::Spawn(format!("{}: {e}", sp.log.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| ClientError::Spawn(e.to_string()))?;
    let mut cmd = std::process::Command::new(&sp.exe);
    cmd.arg("host")
        .env("WALKIE_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    for k in &sp.remove_env {
        cmd.env_remove(k);
    }
    // SAFETY: setsid is async-signal-safe; it detaches the host from the client's terminal
    // so that closing the terminal (or ssh) does not send it SIGHUP.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| ClientError::Spawn(format!("{}: {e}", sp.exe.display())))?;
    // The host outlives us; reap it in the background so it never lingers as a zombie of a
    // long-lived client (the bot).
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that greets with `version` and answers `List` with no sessions, over any stream.
    async fn fake_host<S: Stream>(stream: S, version: u32) {
        let mut conn = Framed::new(stream, FrameCodec);
        while let Some(Ok(Frame::Request(req))) = conn.next().await {
            let reply = match req {
                Request::Hello { version: v } if v == version => Reply::Hello { version, pid: 7 },
                Request::Hello { .. } => Reply::Error {
                    kind: ErrorKind::Version,
                    message: "other version".into(),
                },
                Request::List => Reply::Sessions { sessions: vec![] },
                _ => Reply::Ok,
            };
            if conn.send(Frame::Reply(reply)).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn speaks_over_any_byte_stream() {
        let (ours, theirs) = tokio::io::duplex(4096);
        let host = tokio::spawn(fake_host(theirs, PROTOCOL_VERSION));
        let mut c = tokio::time::timeout(Duration::from_secs(10), Client::over(ours))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.host_pid, 7);
        assert_eq!(c.list().await.unwrap(), vec![]);
        drop(c);
        tokio::time::timeout(Duration::from_secs(10), host)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn another_version_is_refused_at_the_greeting() {
        let (ours, theirs) = tokio::io::duplex(4096);
        tokio::spawn(fake_host(theirs, PROTOCOL_VERSION + 1));
        let r = tokio::time::timeout(Duration::from_secs(10), Client::over(ours))
            .await
            .unwrap();
        assert!(
            matches!(
                r,
                Err(ClientError::Host {
                    kind: ErrorKind::Version,
                    ..
                })
            ),
            "{:?}",
            r.err()
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("none.sock");
        assert!(matches!(
            Client::connect(&sock).await,
            Err(ClientError::NotRunning(p)) if p == sock
        ));
    }
}
