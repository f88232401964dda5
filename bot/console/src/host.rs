//! What the console asks of a session host ([`Host`]), and the real link to one
//! ([`HostLink`]): one connection, reconnected (and the host started, as the CLI does) when
//! it breaks. Requests are serialised on it; each is small and local.
//!
//! The trait's methods return `impl Future + Send` (native async functions in traits, used
//! through generics): the desk is spawned on the runtime, so its futures must be `Send`, and
//! no `dyn` is needed, so neither is `async-trait`. Tests implement it in memory.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::UnixStream;
use tokio::sync::Mutex;
use walkie_approval::hook::Decision;

use crate::changes::Changes;
use walkie_host_proto::client::{AskEvent, AskWatch, Client, ClientError, SpawnHost};
use walkie_host_proto::protocol::{NewSession, SessionInfo};
use walkie_host_proto::sandbox::{BoundaryInfo, Widen};
use walkie_host_proto::snapshot::Snapshot;

/// The calls the console makes to a session host.
pub trait Host: Send + Sync + 'static {
    /// A stream of the host's asks, from [`Host::watch_asks`].
    type Asks: AskStream;

    fn list(&self) -> impl Future<Output = Result<Vec<SessionInfo>, ClientError>> + Send;

    /// The session's info, `None` if the host has no such session.
    fn info(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<SessionInfo>, ClientError>> + Send {
        async move { Ok(self.list().await?.into_iter().find(|s| s.name == name)) }
    }

    fn new_session(
        &self,
        spec: NewSession,
    ) -> impl Future<Output = Result<String, ClientError>> + Send;

    /// Types `text`, then Enter as a separate write, recorded as sent by `source`; answers
    /// the input's time in the session's recording, when it is recorded.
    fn send_line(
        &self,
        name: &str,
        text: &str,
        source: &str,
    ) -> impl Future<Output = Result<Option<f64>, ClientError>> + Send;

    /// Writes each chunk separately (keys).
    fn input(
        &self,
        name: &str,
        chunks: Vec<Vec<u8>>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;

    fn screen(&self, name: &str) -> impl Future<Output = Result<String, ClientError>> + Send;

    /// The screen cell by cell (colours, attributes, cursor), secrets masked by the host:
    /// what `/shot` and `/watch` draw.
    fn snapshot(&self, name: &str) -> impl Future<Output = Result<Snapshot, ClientError>> + Send;

    fn tail(
        &self,
        name: &str,
        lines: usize,
    ) -> impl Future<Output = Result<String, ClientError>> + Send;

    /// The session's boundary as enforced now.
    fn boundary(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<BoundaryInfo, ClientError>> + Send {
        let _ = name;
        async {
            Err(ClientError::Unexpected(
                "this host reports no boundaries".into(),
            ))
        }
    }

    /// Widens the session's network rules live (`by`: who decided, for the host's log).
    fn widen(
        &self,
        name: &str,
        change: Widen,
        by: &str,
    ) -> impl Future<Output = Result<BoundaryInfo, ClientError>> + Send {
        let _ = (name, change, by);
        async {
            Err(ClientError::Unexpected(
                "this host reports no boundaries".into(),
            ))
        }
    }

    fn pause(&self, name: &str) -> impl Future<Output = Result<SessionInfo, ClientError>> + Send;

    fn resume(&self, name: &str) -> impl Future<Output = Result<SessionInfo, ClientError>> + Send;

    fn kill(&self, name: &str) -> impl Future<Output = Result<SessionInfo, ClientError>> + Send;

    /// Answers ask `id`; the host's first decision wins (a later one is `AlreadyDecided`).
    fn decide(
        &self,
        id: u64,
        decision: Decision,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// A new watch of the host's asks (the pending ones first), with the host's pid.
    fn watch_asks(&self) -> impl Future<Output = Result<(u32, Self::Asks), ClientError>> + Send;

    /// The other hosts behind this one and their states (`up 12 ms`, `down since 12:03
    /// (…)`), by name; none for a single host.
    fn remote_hosts(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// `Some` when `session` is on a remote host that is down, so what is sent to it goes
    /// to the outbox (with the time it went down, if known); `None` to send it now.
    fn queue_for(&self, session: &str) -> Option<Option<std::time::SystemTime>> {
        let _ = session;
        None
    }

    /// The hub of screen changes this host pushes, if it pushes them (else screens are
    /// read on a timer).
    fn changes(&self) -> Option<&Arc<Changes>> {
        None
    }
}

/// The host's asks as they come; `None` when the host closed the stream.
pub trait AskStream: Send + 'static {
    fn next_ask(&mut self) -> impl Future<Output = Option<Result<AskEvent, ClientError>>> + Send;
}

impl AskStream for AskWatch<UnixStream> {
    fn next_ask(&mut self) -> impl Future<Output = Option<Result<AskEvent, ClientError>>> + Send {
        self.next()
    }
}

/// A shared, self-healing connection to the session host.
pub struct HostLink {
    socket: PathBuf,
    spawn: Option<SpawnHost>,
    conn: Mutex<Option<Client>>,
    /// Screen changes, on a connection of their own.
    changes: Arc<Changes>,
}

/// Runs one client call on the link: connects first if needed, and drops a connection
/// that broke so the next call reconnects. A call is never retried: an input might
/// then be typed twice.
macro_rules! call {
    ($self:ident, |$c:ident| $body:expr) => {{
        let mut guard = $self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(Client::connect_or_spawn(&$self.socket, $self.spawn.as_ref()).await?);
        }
        let result = match guard.as_mut() {
            Some($c) => $body.await,
            None => Err(ClientError::Closed),
        };
        if matches!(
            result,
            Err(ClientError::Closed
                | ClientError::Frame(_)
                | ClientError::Connect { .. }
                | ClientError::NotAnswering { .. })
        ) {
            *guard = None;
        }
        result
    }};
}

impl HostLink {
    /// `spawn`: how to start a host if none answers (`None`: never start one).
    pub fn new(socket: PathBuf, spawn: Option<SpawnHost>) -> Self {
        HostLink {
            changes: Changes::new(socket.clone()),
            socket,
            spawn,
            conn: Mutex::new(None),
        }
    }

    /// Connects now (starting a host if needed), so that `walkie up` fails early.
    pub async fn connect(&self) -> Result<u32, ClientError> {
        let mut guard = self.conn.lock().await;
        let c = Client::connect_or_spawn(&self.socket, self.spawn.as_ref()).await?;
        let pid = c.host_pid;
        *guard = Some(c);
        Ok(pid)
    }

    /// Starts a lost or exited session again (its command, directory and environment).
    pub async fn revive(&self, name: &str) -> Result<String, ClientError> {
        call!(self, |c| c.revive(name))
    }
}

impl Host for HostLink {
    type Asks = AskWatch<UnixStream>;

    fn changes(&self) -> Option<&Arc<Changes>> {
        Some(&self.changes)
    }

    async fn list(&self) -> Result<Vec<SessionInfo>, ClientError> {
        call!(self, |c| c.list())
    }

    async fn new_session(&self, spec: NewSession) -> Result<String, ClientError> {
        call!(self, |c| c.new_session(spec))
    }

    /// Types `text`, then Enter as a separate write.
    async fn send_line(
        &self,
        name: &str,
        text: &str,
        source: &str,
    ) -> Result<Option<f64>, ClientError> {
        let chunks = vec![text.as_bytes().to_vec(), b"\r".to_vec()];
        call!(self, |c| c.input_from(
            name,
            chunks,
            Some(source.to_string())
        ))
    }

    /// Writes each chunk separately (keys: the desk's answers to screen prompts, `/keys`).
    async fn input(&self, name: &str, chunks: Vec<Vec<u8>>) -> Result<(), ClientError> {
        let typed: Result<Option<f64>, ClientError> = call!(self, |c| c.input_from(
            name,
            chunks,
            Some("telegram".to_string())
        ));
        typed.map(|_| ())
    }

    async fn screen(&self, name: &str) -> Result<String, ClientError> {
        call!(self, |c| c.screen(name, false))
    }

    async fn snapshot(&self, name: &str) -> Result<Snapshot, ClientError> {
        call!(self, |c| c.snapshot(name))
    }

    async fn tail(&self, name: &str, lines: usize) -> Result<String, ClientError> {
        call!(self, |c| c.tail(name, lines))
    }

    async fn boundary(&self, name: &str) -> Result<BoundaryInfo, ClientError> {
        call!(self, |c| c.boundary(name))
    }

    async fn widen(
        &self,
        name: &str,
        change: Widen,
        by: &str,
    ) -> Result<BoundaryInfo, ClientError> {
        call!(self, |c| c.widen(name, change.clone(), by))
    }

    async fn pause(&self, name: &str) -> Result<SessionInfo, ClientError> {
        call!(self, |c| c.pause(name))
    }

    async fn resume(&self, name: &str) -> Result<SessionInfo, ClientError> {
        call!(self, |c| c.resume(name))
    }

    async fn kill(&self, name: &str) -> Result<SessionInfo, ClientError> {
        call!(self, |c| c.kill(name, false))
    }

    async fn decide(&self, id: u64, decision: Decision) -> Result<(), ClientError> {
        // Its own connection: a decision never waits behind a slow call on the link.
        let mut c = Client::connect(&self.socket).await?;
        c.decide(id, decision).await
    }

    async fn watch_asks(&self) -> Result<(u32, Self::Asks), ClientError> {
        let c = Client::connect(&self.socket).await?;
        let pid = c.host_pid;
        Ok((pid, c.watch_asks().await?))
    }
}
