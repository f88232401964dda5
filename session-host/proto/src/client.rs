//! The async client used by the `walkie` commands and the bot.
//!
//! [`Client`] speaks the protocol over any async byte stream: [`Client::connect`] opens the
//! host's Unix socket, [`Client::over`] greets over a stream the caller already has (an ssh
//! channel to a remote host's socket). [`Client::connect_or_spawn`] starts a local host in the
//! background when none answers, as tmux starts its server on first use.
//!
//! Every call is bounded: the greeting and each request's reply must come within the
//! client's timeout ([`DEFAULT_TIMEOUT`] unless given), or the call fails with
//! [`ClientError::NotAnswering`] (a stopped or wedged host never hangs the CLI or the bot).
//! Only the calls that wait by design run longer: an ask waits for its decision, `wait` for
//! the exit it asked about (plus the timeout), and an attached or watching connection is a
//! stream without an end. A connection whose call timed out is out of step with the host and
//! refuses further calls with [`ClientError::Closed`]: connect again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::{Framed, FramedParts};

use crate::ask::{Agent, AskPayload, Decision, NoticeKind};
pub use crate::protocol::Stream;
use crate::protocol::{
    ErrorKind, Frame, FrameCodec, FrameError, NewSession, PendingAsk, Reply, Request, SessionInfo,
    SessionState, PROTOCOL_VERSION,
};
use crate::revival::Revived;
use crate::snapshot::Snapshot;

/// How long a client waits for the host's greeting or any reply that should come at once.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Nothing came back within the client's timeout: the host is stopped, wedged or swamped.
    #[error("the session host is not answering ({}) after {} s; is it stopped (`kill -CONT` it) or overloaded?", pid.map(|p| format!("pid {p}")).unwrap_or_else(|| "pid unknown".into()), after.as_secs_f32())]
    NotAnswering { pid: Option<u32>, after: Duration },
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
    timeout: Duration,
    /// A call timed out: a late reply may still come, so no further call can trust the
    /// next frame.
    broken: bool,
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
        Client::connect_within(socket, DEFAULT_TIMEOUT).await
    }

    /// [`Client::connect`] with `timeout` for the connect, the greeting and every reply.
    pub async fn connect_within(socket: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let connect = tokio::time::timeout(timeout, UnixStream::connect(socket)).await;
        let Ok(connect) = connect else {
            return Err(ClientError::NotAnswering {
                pid: None,
                after: timeout,
            });
        };
        let stream = match connect {
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
        // The kernel knows the listener's pid before it says a word: name it if it stays mute.
        let pid = stream
            .peer_cred()
            .ok()
            .and_then(|c| c.pid())
            .and_then(|p| u32::try_from(p).ok());
        Client::greet(stream, timeout, pid).await
    }

    /// Connects, starting a host first if none answers and `spawn` is given.
    pub async fn connect_or_spawn(
        socket: &Path,
        spawn: Option<&SpawnHost>,
    ) -> Result<Client, ClientError> {
        Client::connect_or_spawn_within(socket, spawn, DEFAULT_TIMEOUT).await
    }

    /// [`Client::connect_or_spawn`] with `timeout` as in [`Client::connect_within`].
    pub async fn connect_or_spawn_within(
        socket: &Path,
        spawn: Option<&SpawnHost>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        match Client::connect_within(socket, timeout).await {
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
            match Client::connect_within(socket, timeout).await {
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
        Client::greet(stream, DEFAULT_TIMEOUT, None).await
    }

    /// [`Client::over`] with `timeout` for the greeting and every reply.
    pub async fn over_within(stream: S, timeout: Duration) -> Result<Client<S>, ClientError> {
        Client::greet(stream, timeout, None).await
    }

    /// `pid`: the host's, when the stream tells (for the error if it does not answer).
    async fn greet(
        stream: S,
        timeout: Duration,
        pid: Option<u32>,
    ) -> Result<Client<S>, ClientError> {
        let mut c = Client {
            conn: Framed::new(stream, FrameCodec),
            host_pid: pid.unwrap_or(0),
            timeout,
            broken: false,
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

    /// Sends one request and reads its reply within the client's timeout; a host error
    /// becomes [`ClientError::Host`].
    pub async fn call(&mut self, req: Request) -> Result<Reply, ClientError> {
        self.call_within(req, self.timeout).await
    }

    /// [`Client::call`] bounded by `limit` instead of the client's timeout.
    async fn call_within(&mut self, req: Request, limit: Duration) -> Result<Reply, ClientError> {
        if self.broken {
            return Err(ClientError::Closed);
        }
        match tokio::time::timeout(limit, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => {
                self.broken = true;
                Err(ClientError::NotAnswering {
                    pid: (self.host_pid != 0).then_some(self.host_pid),
                    after: limit,
                })
            }
        }
    }

    async fn exchange(&mut self, req: Request) -> Result<Reply, ClientError> {
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

    /// The next whole reply: the parts of a long text or session list are joined here.
    async fn next_reply(&mut self) -> Result<Reply, ClientError> {
        let mut text = String::new();
        let mut sessions = Vec::new();
        loop {
            match self.next_frame_reply().await? {
                Reply::TextPart { text: t } if sessions.is_empty() => text.push_str(&t),
                Reply::SessionsPart { sessions: s } if text.is_empty() => sessions.extend(s),
                Reply::Text { text: t } if sessions.is_empty() => {
                    text.push_str(&t);
                    return Ok(Reply::Text { text });
                }
                Reply::Sessions { sessions: s } if text.is_empty() => {
                    sessions.extend(s);
                    return Ok(Reply::Sessions { sessions });
                }
                r if text.is_empty() && sessions.is_empty() => return Ok(r),
                r => {
                    return Err(ClientError::Unexpected(format!(
                        "{r:?} in the middle of a reply in parts"
                    )))
                }
            }
        }
    }

    async fn next_frame_reply(&mut self) -> Result<Reply, ClientError> {
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
        self.input_from(name, chunks, None).await.map(|_| ())
    }

    /// Types `chunks`, recorded as sent by `source`; answers the input's time in the
    /// session's recording (seconds), when it is recorded.
    pub async fn input_from(
        &mut self,
        name: &str,
        chunks: Vec<Vec<u8>>,
        source: Option<String>,
    ) -> Result<Option<f64>, ClientError> {
        self.input_dispatch(name, chunks, source, None).await
    }

    /// [`Client::input_from`] of an outbox item: the host types `dispatch` once only.
    pub async fn input_dispatch(
        &mut self,
        name: &str,
        chunks: Vec<Vec<u8>>,
        source: Option<String>,
        dispatch: Option<String>,
    ) -> Result<Option<f64>, ClientError> {
        match self
            .call(Request::Input {
                name: name.into(),
                chunks,
                source,
                dispatch,
            })
            .await?
        {
            Reply::Typed { at } => Ok(at),
            Reply::Ok => Ok(None),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
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

    /// The session's screen cell by cell (secrets masked by the host).
    pub async fn snapshot(&mut self, name: &str) -> Result<Snapshot, ClientError> {
        match self.call(Request::Snapshot { name: name.into() }).await? {
            Reply::Snapshot { snapshot } => Ok(snapshot),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The session's boundary as the host enforces it now.
    pub async fn boundary(
        &mut self,
        name: &str,
    ) -> Result<crate::sandbox::BoundaryInfo, ClientError> {
        match self.call(Request::Boundary { name: name.into() }).await? {
            Reply::Boundary { boundary } => Ok(*boundary),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Widens a running session's network rules; the boundary after the change.
    pub async fn widen(
        &mut self,
        name: &str,
        change: crate::sandbox::Widen,
        by: &str,
    ) -> Result<crate::sandbox::BoundaryInfo, ClientError> {
        let req = Request::Widen {
            name: name.into(),
            change,
            by: Some(by.into()),
        };
        match self.call(req).await? {
            Reply::Boundary { boundary } => Ok(*boundary),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
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

    /// Starts ending the session (SIGHUP and SIGTERM, SIGKILL after the host's grace period,
    /// or SIGKILL now when `force`). The host answers at once, so the state is usually still
    /// running; the exit follows, which [`Client::wait`] waits for.
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
        // The host answers when the session exits or `timeout` passes: wait that long and
        // the client's own timeout on top.
        let req = Request::Wait {
            name: name.into(),
            timeout_ms: timeout.as_millis() as u64,
        };
        match self.call_within(req, timeout + self.timeout).await? {
            Reply::Info { session } => Ok(session),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
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

    /// Enters attach mode; returns the session's info, and whether the host takes the
    /// terminal (asked with `terminal`; see [`Request::Attach`]). Then use
    /// [`Client::into_framed`].
    pub async fn attach(
        &mut self,
        name: &str,
        cols: u16,
        rows: u16,
        terminal: bool,
    ) -> Result<(SessionInfo, bool), ClientError> {
        match self
            .call(Request::Attach {
                name: name.into(),
                cols,
                rows,
                terminal,
            })
            .await?
        {
            Reply::Attached { session, terminal } => Ok((session, terminal)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The stream under the client (the local socket's fd, to pass a terminal on).
    pub fn stream(&self) -> &S {
        self.conn.get_ref()
    }

    /// Asks whoever watches (the bot) to decide; waits for the decision up to `timeout`.
    /// A `Timeout` host error means nobody decided in time.
    pub async fn ask(
        &mut self,
        session: &str,
        payload: AskPayload,
        timeout: Duration,
    ) -> Result<Decision, ClientError> {
        let req = Request::Ask {
            session: session.into(),
            payload,
            timeout_ms: timeout.as_millis() as u64,
        };
        match self.call_within(req, timeout + self.timeout).await? {
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

    /// Tells the host the agent's own session id in `session` (from the agent's hook).
    pub async fn agent_session(
        &mut self,
        session: &str,
        agent: Agent,
        id: &str,
    ) -> Result<(), ClientError> {
        self.call(Request::AgentSession {
            session: session.into(),
            agent,
            id: id.into(),
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

    /// Turns this connection into a stream of screen changes of `names` (one event for each
    /// at once, then one per change, coalesced by the host).
    pub async fn watch_screens(
        mut self,
        names: Vec<String>,
    ) -> Result<ScreenWatch<S>, ClientError> {
        self.call(Request::WatchScreens { names }).await?;
        Ok(ScreenWatch { conn: self.conn })
    }

    /// The raw framed connection, for attach mode.
    pub fn into_framed(self) -> Framed<S, FrameCodec> {
        self.conn
    }

    /// The same greeted connection over a boxed stream, so that a local socket and an ssh
    /// channel make one client type (bytes already buffered are kept).
    pub fn boxed(self) -> Client<Box<dyn Stream>>
    where
        S: 'static,
    {
        let old = self.conn.into_parts();
        let io: Box<dyn Stream> = Box::new(old.io);
        let mut parts = FramedParts::new::<Frame>(io, old.codec);
        parts.read_buf = old.read_buf;
        parts.write_buf = old.write_buf;
        Client {
            conn: Framed::from_parts(parts),
            host_pid: self.host_pid,
            timeout: self.timeout,
            broken: self.broken,
        }
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
    /// Once per host start: what became of the sessions running when it last stopped.
    Revived(Vec<Revived>),
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
                Ok(Frame::Reply(Reply::Revived { sessions })) => {
                    Some(Ok(AskEvent::Revived(sessions)))
                }
                Ok(_) => continue,
            };
        }
    }
}

/// One session's screen changed (from [`Client::watch_screens`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenChange {
    pub name: String,
    /// Grows with every change; the screen is worth reading when it differs from the last.
    pub seq: u64,
    /// `None`: the host has no such session.
    pub state: Option<SessionState>,
}

/// A connection streaming [`ScreenChange`]s. Its `next` is cancel-safe (a `select!` may drop
/// it and call [`ScreenWatch::set`]).
pub struct ScreenWatch<S = UnixStream> {
    conn: Framed<S, FrameCodec>,
}

impl<S: Stream> ScreenWatch<S> {
    /// The next change; `None` when the host closed the stream (connect again).
    pub async fn next(&mut self) -> Option<Result<ScreenChange, ClientError>> {
        loop {
            return match self.conn.next().await? {
                Err(e) => Some(Err(e.into())),
                Ok(Frame::Reply(Reply::ScreenChanged { name, seq, state })) => {
                    Some(Ok(ScreenChange { name, seq, state }))
                }
                Ok(Frame::Reply(Reply::Error { kind, message })) => {
                    Some(Err(ClientError::Host { kind, message }))
                }
                Ok(_) => continue,
            };
        }
    }

    /// Replaces the watched set: sessions no longer named stop, new ones get an event at once.
    pub async fn set(&mut self, names: Vec<String>) -> Result<(), ClientError> {
        self.conn
            .send(Frame::Request(Request::WatchScreens { names }))
            .await?;
        Ok(())
    }
}

/// Starts `walkie host` detached from this terminal (its own session), logging to a file.
fn start_host(sp: &SpawnHost, socket: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use std::os::unix::process::CommandExt;
    let spawn_err =
        |p: &Path, e: std::io::Error| ClientError::Spawn(format!("{}: {e}", p.display()));
    // The log and its directory are private whatever the umask: the log names sessions and
    // their commands. (The host tightens them again at start, should they exist looser.)
    if let Some(dir) = sp.log.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| spawn_err(dir, e))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&sp.log)
        .map_err(|e| spawn_err(&sp.log, e))?;
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
                // A long screen, sent in parts as the host sends it.
                Request::Screen { .. } => {
                    let text = "\x1b[1m▀".repeat(300_000);
                    for part in crate::protocol::split_reply(Reply::Text { text }) {
                        if conn.feed(Frame::Reply(part)).await.is_err() {
                            return;
                        }
                    }
                    Reply::Ok
                }
                // A host that has stopped answering.
                Request::Tail { .. } => std::future::pending().await,
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
    async fn a_reply_in_parts_is_joined() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        tokio::spawn(fake_host(theirs, PROTOCOL_VERSION));
        let mut c = Client::over(ours).await.unwrap();
        let text = tokio::time::timeout(Duration::from_secs(30), c.screen("s", true))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text, "\x1b[1m▀".repeat(300_000));
        // The reply after the parts (the fake host's Ok) is not mistaken for the next one.
        assert_eq!(c.call(Request::List).await.unwrap(), Reply::Ok);
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_that_does_not_answer_is_a_bounded_error() {
        // Greets, then never answers.
        let (ours, theirs) = tokio::io::duplex(4096);
        tokio::spawn(fake_host(theirs, PROTOCOL_VERSION));
        let mut c = Client::over_within(ours, Duration::from_secs(2))
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let r = c.tail("s", 5).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let e = r.unwrap_err();
        assert!(
            matches!(e, ClientError::NotAnswering { pid: Some(7), .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("not answering (pid 7)"), "{e}");
        // Out of step now: refused, not answered with the late reply.
        assert!(matches!(c.list().await, Err(ClientError::Closed)));
        // A mute greeting is bounded too.
        let (ours, _theirs) = tokio::io::duplex(4096);
        let r = Client::over_within(ours, Duration::from_secs(3)).await;
        assert!(matches!(
            r,
            Err(ClientError::NotAnswering { pid: None, .. })
        ));
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
