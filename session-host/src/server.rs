//! The host daemon: owns the sessions, listens on the Unix socket, answers requests.
//!
//! Security: the socket's directory is 0700 and the socket 0600, and every connection's peer
//! uid (SO_PEERCRED) must equal the host's, so only the user who runs the host can type into
//! its sessions. A malformed or oversized frame closes that one connection with an error in
//! the log; nothing a client sends can take the host down.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::session::{Event, Session, SessionSettings, Spawn};
use crate::store::{Record, Store, StoreError};
use walkie_host_proto::ask::{AskPayload, Decision};
use walkie_host_proto::name::SessionName;
use walkie_host_proto::protocol::{
    ErrorKind, Frame, FrameCodec, NewSession, PendingAsk, Reply, Request, SessionInfo,
    SessionState, MAX_DATA, PROTOCOL_VERSION,
};

/// Everything the host needs to run.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub default_cols: u16,
    pub default_rows: u16,
    pub kill_grace: Duration,
    pub session: SessionSettings,
}

impl HostOptions {
    pub fn from_config(cfg: &walkie_config::Config) -> HostOptions {
        let socket = cfg.socket_path();
        HostOptions {
            state_dir: cfg.state_dir(),
            default_cols: cfg.host.cols,
            default_rows: cfg.host.rows,
            kill_grace: Duration::from_millis(cfg.host.kill_grace_ms),
            session: SessionSettings {
                scrollback_bytes: cfg.host.scrollback_bytes,
                subscriber_queue: cfg.host.subscriber_queue,
                enter_delay: Duration::from_millis(cfg.host.enter_delay_ms),
                term: cfg.host.term.clone(),
                secret_env: cfg.secret_env_names(),
                socket: socket.clone(),
            },
            socket,
        }
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

enum Entry {
    Live(Arc<Session>),
    /// Exited before this host started, or lost with the previous host.
    Record(Record),
}

/// Asks waiting for a decision, and the connections that watch them (the bot).
struct Asks {
    next_id: u64,
    pending: BTreeMap<u64, (PendingAsk, tokio::sync::oneshot::Sender<Decision>)>,
    watchers: Vec<mpsc::Sender<Reply>>,
}

impl Asks {
    /// A watcher that cannot keep up is dropped; it reconnects and gets the pending list again.
    fn notify(&mut self, r: Reply) {
        self.watchers.retain(|w| w.try_send(r.clone()).is_ok());
    }
}

struct HostState {
    opts: HostOptions,
    asks: Mutex<Asks>,
    entries: Mutex<BTreeMap<String, Entry>>,
    store: Store,
    exits: mpsc::UnboundedSender<(String, u32, SessionState, std::sync::mpsc::Sender<()>)>,
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Io {
        path: path.into(),
        source,
    }
}

/// Binds the socket: directory 0700, socket 0600. A socket file that answers belongs to a
/// running host and is left alone; one that does not answer is stale and replaced.
async fn bind(socket: &Path) -> Result<UnixListener, HostError> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir))?;
    }
    if socket.exists() {
        if UnixStream::connect(socket).await.is_ok() {
            return Err(HostError::AlreadyRunning(socket.into()));
        }
        tracing::info!("replacing stale socket {}", socket.display());
        std::fs::remove_file(socket).map_err(io_err(socket))?;
    }
    let listener = UnixListener::bind(socket).map_err(io_err(socket))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(socket))?;
    Ok(listener)
}

/// Runs the host until `shutdown` is cancelled. On shutdown every session is sent SIGHUP
/// (as when a terminal closes) and recorded as lost, so `walkie revive` can start it again.
pub async fn run(opts: HostOptions, shutdown: CancellationToken) -> Result<(), HostError> {
    std::fs::create_dir_all(&opts.state_dir).map_err(io_err(&opts.state_dir))?;
    let listener = bind(&opts.socket).await?;
    let store = Store::open(&opts.state_dir.join("host.db")).await?;
    let mut entries = BTreeMap::new();
    for r in store.recover().await? {
        entries.insert(r.name.clone(), Entry::Record(r));
    }
    let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
    let host = Arc::new(HostState {
        asks: Mutex::new(Asks {
            next_id: now_ms() * 1000,
            pending: BTreeMap::new(),
            watchers: Vec::new(),
        }),
        opts,
        entries: Mutex::new(entries),
        store,
        exits: exits_tx,
        uid: nix::unistd::getuid().as_raw(),
    });
    tracing::info!(socket = %host.opts.socket.display(), pid = std::process::id(), "walkie host listening");

    let tasks = tokio_util::task::TaskTracker::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some((name, pid, state, done)) = exits_rx.recv() => {
                host.record_exit(&name, pid, &state).await;
                let _ = done.send(());
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let host = host.clone();
                    let stop = shutdown.clone();
                    tasks.spawn(async move { host.serve(stream, stop).await });
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
    let _ = std::fs::remove_file(&host.opts.socket);
    let live: Vec<Arc<Session>> = host
        .entries()
        .values()
        .filter_map(|e| match e {
            Entry::Live(s) if s.state().is_live() => Some(s.clone()),
            _ => None,
        })
        .collect();
    for s in &live {
        s.terminate(false);
        let _ = host
            .store
            .set_state(s.name.as_str(), &SessionState::Lost)
            .await;
    }
    // Give programs the grace period to leave on their own, then force.
    let deadline = tokio::time::Instant::now() + host.opts.kill_grace;
    for s in &live {
        let mut w = s.exit_watch();
        let _ = tokio::time::timeout_at(deadline, w.wait_for(|v| v.is_some())).await;
        s.terminate(true);
    }
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.wait()).await;
    host.store.close().await;
    Ok(())
}

impl HostState {
    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    // The error is the reply sent as is; it is built once per failed request, not hot.
    #[allow(clippy::result_large_err)]
    fn live(&self, name: &str) -> Result<Arc<Session>, Reply> {
        let found = match self.entries().get(name) {
            Some(Entry::Live(s)) => Ok(s.clone()),
            Some(Entry::Record(r)) => Err(Some(r.state.label())),
            None => Err(None),
        };
        // The entries lock is released here: no_such takes it again.
        found.map_err(|label| match label {
            Some(label) => err(
                ErrorKind::NotRunning,
                format!("session {name} is {label}; `walkie revive {name}` starts it again"),
            ),
            None => self.no_such(name),
        })
    }

    fn no_such(&self, name: &str) -> Reply {
        let names: Vec<String> = self.entries().keys().cloned().collect();
        let hint = if names.is_empty() {
            "there are no sessions; create one with `walkie new NAME`".to_string()
        } else {
            format!("sessions: {}", names.join(", "))
        };
        err(
            ErrorKind::NoSuchSession,
            format!("no session named {name:?} ({hint})"),
        )
    }

    async fn record_exit(&self, name: &str, pid: u32, state: &SessionState) {
        tracing::info!(session = name, pid, state = %state.label(), "session exited");
        if let Err(e) = self.store.set_exit(name, pid, state).await {
            tracing::error!(session = name, "cannot record exit: {e}");
        }
    }

    async fn serve(self: Arc<Self>, stream: UnixStream, shutdown: CancellationToken) {
        let peer = stream.peer_cred().ok();
        let mut conn = Framed::new(stream, FrameCodec);
        match peer {
            Some(c) if c.uid() == self.uid => {}
            other => {
                let uid = other.map(|c| c.uid());
                tracing::warn!(?uid, "refused a connection from another user");
                // Read the client's hello first: closing with unread data would reset the
                // connection and the client would never see why.
                let _ = tokio::time::timeout(Duration::from_secs(2), conn.next()).await;
                let _ = conn
                    .send(Frame::Reply(err(
                        ErrorKind::PermissionDenied,
                        "this walkie host belongs to another user",
                    )))
                    .await;
                return;
            }
        }
        let mut greeted = false;
        loop {
            let frame = tokio::select! {
                _ = shutdown.cancelled() => return,
                f = conn.next() => f,
            };
            let req = match frame {
                None => return,
                Some(Ok(Frame::Request(r))) => r,
                Some(Ok(other)) => {
                    tracing::warn!("closing connection: unexpected frame {:?}", kind_of(&other));
                    let _ = conn
                        .send(Frame::Reply(err(
                            ErrorKind::BadRequest,
                            "expected a request",
                        )))
                        .await;
                    return;
                }
                Some(Err(e)) => {
                    tracing::warn!("closing connection: {e}");
                    let _ = conn
                        .send(Frame::Reply(err(ErrorKind::BadRequest, e.to_string())))
                        .await;
                    return;
                }
            };
            if !greeted {
                match req {
                    Request::Hello { version } if version == PROTOCOL_VERSION => {
                        greeted = true;
                        let hello = Reply::Hello {
                            version: PROTOCOL_VERSION,
                            pid: std::process::id(),
                        };
                        if conn.send(Frame::Reply(hello)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Request::Hello { version } => {
                        let _ = conn
                            .send(Frame::Reply(err(
                                ErrorKind::Version,
                                format!(
                                    "protocol version {version} is not this host's {PROTOCOL_VERSION}: restart the host (`systemctl --user restart walkie-host`, or kill it) so that client and host are the same walkie"
                                ),
                            )))
                            .await;
                        return;
                    }
                    _ => {
                        let _ = conn
                            .send(Frame::Reply(err(ErrorKind::BadRequest, "say hello first")))
                            .await;
                        return;
                    }
                }
            }
            let req = match req {
                Request::Ask {
                    session,
                    payload,
                    timeout_ms,
                } => {
                    if !self
                        .ask(&mut conn, session, payload, timeout_ms, &shutdown)
                        .await
                    {
                        return;
                    }
                    continue;
                }
                Request::WatchAsks => {
                    self.watch_asks(&mut conn, &shutdown).await;
                    return;
                }
                other => other,
            };
            if let Request::Attach { name, cols, rows } = req {
                match self.live(&name) {
                    Ok(s) => {
                        self.attach(&mut conn, s, cols, rows, &shutdown).await;
                    }
                    Err(reply) => {
                        let _ = conn.send(Frame::Reply(reply)).await;
                    }
                }
                continue;
            }
            let reply = self.handle(req).await;
            if conn.send(Frame::Reply(reply)).await.is_err() {
                return;
            }
        }
    }

    async fn handle(&self, req: Request) -> Reply {
        match req {
            Request::Hello { .. } => err(ErrorKind::BadRequest, "already greeted"),
            Request::New(spec) => self.create(spec).await,
            Request::List => {
                let sessions: Vec<SessionInfo> = self
                    .entries()
                    .values()
                    .map(|e| match e {
                        Entry::Live(s) => s.info(),
                        Entry::Record(r) => r.info(),
                    })
                    .collect();
                Reply::Sessions { sessions }
            }
            Request::Input { name, chunks } => match self.live(&name) {
                Ok(s) => match s.input(chunks) {
                    Ok(()) => Reply::Ok,
                    Err(state) => err(
                        ErrorKind::NotRunning,
                        format!("session {name} has {}; nothing was typed", state.label()),
                    ),
                },
                Err(r) => r,
            },
            Request::Screen { name, ansi } => match self.live(&name) {
                Ok(s) => Reply::Text {
                    text: s.screen(ansi),
                },
                Err(r) => r,
            },
            Request::Tail { name, lines } => match self.live(&name) {
                Ok(s) => Reply::Text {
                    text: s.tail(lines),
                },
                Err(r) => r,
            },
            Request::Pause { name } => self.pause_resume(&name, true).await,
            Request::Resume { name } => self.pause_resume(&name, false).await,
            Request::Kill { name, force } => self.kill(&name, force).await,
            Request::Wait { name, timeout_ms } => match self.live(&name) {
                Ok(s) => {
                    let mut w = s.exit_watch();
                    let t = Duration::from_millis(timeout_ms.min(3_600_000));
                    let done = tokio::time::timeout(t, w.wait_for(|v| v.is_some()))
                        .await
                        .is_ok();
                    if done {
                        Reply::Info { session: s.info() }
                    } else {
                        err(
                            ErrorKind::Timeout,
                            format!("session {name} is still running"),
                        )
                    }
                }
                Err(r) => r,
            },
            Request::Rm { name } => self.rm(&name).await,
            Request::Revive { name } => self.revive(&name).await,
            Request::Decide { id, decision } => self.decide(id, decision),
            Request::Notice {
                session,
                kind,
                text,
            } => {
                tracing::info!(session = %session, ?kind, "notice");
                self.asks().notify(Reply::Notice {
                    session,
                    kind,
                    text,
                });
                Reply::Ok
            }
            Request::Attach { .. } | Request::Resize { .. } | Request::Detach => {
                err(ErrorKind::BadRequest, "not attached")
            }
            Request::Ask { .. } | Request::WatchAsks => {
                err(ErrorKind::BadRequest, "handled by the connection")
            }
        }
    }

    fn asks(&self) -> MutexGuard<'_, Asks> {
        self.asks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds an ask until it is decided, expires, or the asker leaves. Returns false when the
    /// connection is over.
    async fn ask(
        &self,
        conn: &mut Framed<UnixStream, FrameCodec>,
        session: String,
        payload: AskPayload,
        timeout_ms: u64,
        shutdown: &CancellationToken,
    ) -> bool {
        let timeout = Duration::from_millis(timeout_ms.clamp(1, 24 * 3600 * 1000));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let id = {
            let mut a = self.asks();
            let id = a.next_id;
            a.next_id += 1;
            let now = now_ms();
            let ask = PendingAsk {
                id,
                session: session.clone(),
                payload,
                created_ms: now,
                deadline_ms: now + timeout.as_millis() as u64,
            };
            a.pending.insert(id, (ask.clone(), tx));
            a.notify(Reply::Asked { ask });
            id
        };
        tracing::info!(id, session = %session, "ask pending");
        enum End {
            Decided(Decision),
            Timeout,
            Gone,
        }
        let end = tokio::select! {
            d = &mut rx => match d {
                Ok(v) => End::Decided(v),
                Err(_) => End::Gone,
            },
            _ = tokio::time::sleep(timeout) => End::Timeout,
            // Any frame from the asker, or its close, means it stopped waiting.
            _ = conn.next() => End::Gone,
            _ = shutdown.cancelled() => End::Gone,
        };
        let end = match end {
            End::Decided(v) => End::Decided(v),
            other => {
                let mut a = self.asks();
                if a.pending.remove(&id).is_some() {
                    a.notify(Reply::AskClosed { id, decision: None });
                    other
                } else {
                    // Decided at the same moment: decide() sent the value before releasing the
                    // lock we now hold.
                    drop(a);
                    match rx.try_recv() {
                        Ok(v) => End::Decided(v),
                        Err(_) => other,
                    }
                }
            }
        };
        match end {
            End::Decided(decision) => {
                tracing::info!(id, session = %session, "ask decided");
                conn.send(Frame::Reply(Reply::Decided { id, decision }))
                    .await
                    .is_ok()
            }
            End::Timeout => {
                tracing::info!(id, session = %session, "ask expired");
                let reply = err(
                    ErrorKind::Timeout,
                    format!("no decision within {} s", timeout.as_secs()),
                );
                conn.send(Frame::Reply(reply)).await.is_ok()
            }
            End::Gone => false,
        }
    }

    fn decide(&self, id: u64, decision: Decision) -> Reply {
        let mut a = self.asks();
        match a.pending.remove(&id) {
            Some((_, tx)) => {
                let _ = tx.send(decision.clone());
                a.notify(Reply::AskClosed {
                    id,
                    decision: Some(decision),
                });
                Reply::Ok
            }
            None => err(
                ErrorKind::AlreadyDecided,
                format!("ask {id} was already decided, expired, or its asker went away"),
            ),
        }
    }

    /// Streams asks to a watcher until it disconnects (or is dropped for being slow).
    async fn watch_asks(
        &self,
        conn: &mut Framed<UnixStream, FrameCodec>,
        shutdown: &CancellationToken,
    ) {
        let (tx, mut rx) = mpsc::channel(256);
        let pending: Vec<PendingAsk> = {
            let mut a = self.asks();
            a.watchers.push(tx);
            a.pending.values().map(|(p, _)| p.clone()).collect()
        };
        if conn.send(Frame::Reply(Reply::Ok)).await.is_err() {
            return;
        }
        for ask in pending {
            if conn.send(Frame::Reply(Reply::Asked { ask })).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = rx.recv() => match r {
                    Some(r) => {
                        if conn.send(Frame::Reply(r)).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                // A watch connection only listens; anything else ends it.
                _ = conn.next() => return,
            }
        }
    }

    async fn create(&self, spec: NewSession) -> Reply {
        let name = match SessionName::parse(&spec.name) {
            Ok(n) => n,
            Err(e) => return err(ErrorKind::BadName, e.to_string()),
        };
        let cwd = spec
            .cwd
            .clone()
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let (cols, rows) = spec
            .size
            .unwrap_or((self.opts.default_cols, self.opts.default_rows));
        let spawn = Spawn {
            name,
            command: spec.command,
            cwd,
            env: spec
                .env
                .into_iter()
                .filter(|(k, _)| !self.opts.session.secret_env.contains(k))
                .collect(),
            cols: cols.clamp(2, 1000),
            rows: rows.clamp(1, 1000),
        };
        self.start(spawn, false).await
    }

    /// Starts a session; `replace` allows replacing an exited or lost record (revive).
    async fn start(&self, spawn: Spawn, replace: bool) -> Reply {
        let name = spawn.name.to_string();
        {
            let entries = self.entries();
            match entries.get(&name) {
                None => {}
                Some(Entry::Live(s)) if s.state().is_live() || !replace => {
                    return err(
                        ErrorKind::NameTaken,
                        format!("a session named {name} exists already; pick another name or `walkie rm {name}` it first"),
                    )
                }
                Some(_) if !replace => {
                    return err(
                        ErrorKind::NameTaken,
                        format!("a session named {name} exists already (not running); `walkie revive {name}` or `walkie rm {name}` it first"),
                    )
                }
                Some(_) => {}
            }
        }
        let exits = self.exits.clone();
        let exit_name = name.clone();
        let session = match Session::start(
            spawn.clone(),
            self.opts.session.clone(),
            move |pid, state| {
                let (done_tx, done_rx) = std::sync::mpsc::channel();
                if exits.send((exit_name, pid, state, done_tx)).is_ok() {
                    // Bounded: a stuck database must not keep the waiter thread forever.
                    let _ = done_rx.recv_timeout(Duration::from_secs(2));
                }
            },
        ) {
            Ok(s) => s,
            Err(e) => return err(ErrorKind::Spawn, e.to_string()),
        };
        let record = Record {
            name: name.clone(),
            command: spawn.command.clone(),
            cwd: spawn.cwd.clone(),
            env: spawn.env.clone(),
            cols: spawn.cols,
            rows: spawn.rows,
            created_ms: now_ms(),
            state: SessionState::Running,
            pid: Some(session.pid),
        };
        {
            let mut entries = self.entries();
            // Two clients racing for one name: the first insert wins.
            if let Some(Entry::Live(s)) = entries.get(&name) {
                if s.state().is_live() {
                    session.terminate(true);
                    return err(
                        ErrorKind::NameTaken,
                        format!("a session named {name} exists already"),
                    );
                }
            }
            entries.insert(name.clone(), Entry::Live(session.clone()));
        }
        if let Err(e) = self.store.put(&record).await {
            // The session runs; only its record for after a host restart is missing.
            tracing::error!(session = %name, "cannot store session record: {e}");
        }
        // A command that exits at once may have ended before its record was written.
        let state = session.state();
        if !state.is_live() {
            let _ = self.store.set_exit(&name, session.pid, &state).await;
        }
        tracing::info!(session = %name, pid = session.pid, command = ?spawn.command, "session started");
        Reply::Created { name }
    }

    async fn pause_resume(&self, name: &str, pause: bool) -> Reply {
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        let res = if pause { s.pause() } else { s.resume() };
        match res {
            Ok(()) => {
                let _ = self.store.set_state(name, &s.state()).await;
                Reply::Info { session: s.info() }
            }
            Err(state) => err(
                ErrorKind::NotRunning,
                format!("session {name} has {}", state.label()),
            ),
        }
    }

    async fn kill(&self, name: &str, force: bool) -> Reply {
        let s = match self.live(name) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if !s.state().is_live() {
            return Reply::Info { session: s.info() };
        }
        let mut w = s.exit_watch();
        s.terminate(force);
        if tokio::time::timeout(self.opts.kill_grace, w.wait_for(|v| v.is_some()))
            .await
            .is_err()
        {
            tracing::info!(
                session = name,
                "still running after the grace period: SIGKILL"
            );
            s.terminate(true);
            if tokio::time::timeout(Duration::from_secs(5), w.wait_for(|v| v.is_some()))
                .await
                .is_err()
            {
                return err(
                    ErrorKind::Timeout,
                    format!("session {name} did not exit even after SIGKILL"),
                );
            }
        }
        Reply::Info { session: s.info() }
    }

    async fn rm(&self, name: &str) -> Reply {
        {
            let mut entries = self.entries();
            match entries.get(name) {
                None => {
                    drop(entries);
                    return self.no_such(name);
                }
                Some(Entry::Live(s)) if s.state().is_live() => {
                    return err(
                        ErrorKind::StillRunning,
                        format!("session {name} is still running; `walkie kill {name}` first"),
                    )
                }
                Some(_) => {
                    entries.remove(name);
                }
            }
        }
        match self.store.remove(name).await {
            Ok(()) => Reply::Ok,
            Err(e) => err(ErrorKind::Internal, e.to_string()),
        }
    }

    async fn revive(&self, name: &str) -> Reply {
        let spawn = {
            let entries = self.entries();
            match entries.get(name) {
                None => None,
                Some(Entry::Live(s)) if s.state().is_live() => {
                    return err(
                        ErrorKind::StillRunning,
                        format!("session {name} is running"),
                    )
                }
                Some(Entry::Live(s)) => Some(s.spawn.clone()),
                Some(Entry::Record(r)) => SessionName::parse(&r.name).ok().map(|n| Spawn {
                    name: n,
                    command: r.command.clone(),
                    cwd: r.cwd.clone(),
                    env: r.env.clone(),
                    cols: r.cols,
                    rows: r.rows,
                }),
            }
        };
        match spawn {
            Some(s) => self.start(s, true).await,
            None => self.no_such(name),
        }
    }

    /// Attach mode: terminal bytes both ways until detach, exit, or disconnect.
    async fn attach(
        &self,
        conn: &mut Framed<UnixStream, FrameCodec>,
        s: Arc<Session>,
        cols: u16,
        rows: u16,
        shutdown: &CancellationToken,
    ) {
        let mut size = (cols, rows);
        // The newest client decides the size, as in tmux's "latest" window-size mode.
        if s.state().is_live() {
            s.resize(cols, rows);
        }
        let (repaint, state, mut rx, mut sub) = s.subscribe(true);
        if conn
            .send(Frame::Reply(Reply::Attached { session: s.info() }))
            .await
            .is_err()
        {
            s.unsubscribe(sub);
            return;
        }
        if conn.send(Frame::Data(repaint)).await.is_err() {
            s.unsubscribe(sub);
            return;
        }
        if !state.is_live() {
            let _ = conn.send(Frame::Reply(Reply::Exited { state })).await;
            return;
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                ev = rx.recv() => match ev {
                    Some(Event::Output(first)) => {
                        if rx.len() >= COALESCE_BACKLOG {
                            // Far behind a flood: jump to the current screen instead of
                            // replaying every byte, as tmux redraws rather than replays.
                            s.unsubscribe(sub);
                            if !resubscribe(conn, &s, &mut rx, &mut sub).await {
                                return;
                            }
                            continue;
                        }
                        // Coalesce what is already queued into fewer, larger frames.
                        let mut buf = bytes::BytesMut::from(&first[..]);
                        while buf.len() < MAX_DATA {
                            match rx.try_recv() {
                                Ok(Event::Output(more)) => buf.extend_from_slice(&more),
                                Ok(Event::Exited(state)) => {
                                    let _ = send_data(conn, buf.freeze()).await;
                                    let _ = conn.send(Frame::Reply(Reply::Exited { state })).await;
                                    return;
                                }
                                Err(_) => break,
                            }
                        }
                        if send_data(conn, buf.freeze()).await.is_err() {
                            break;
                        }
                    }
                    Some(Event::Exited(state)) => {
                        let _ = conn.send(Frame::Reply(Reply::Exited { state })).await;
                        return;
                    }
                    None => {
                        // Dropped for being slow (or the session ended while we lagged):
                        // start again from a repaint of the current screen.
                        if !resubscribe(conn, &s, &mut rx, &mut sub).await {
                            return;
                        }
                    }
                },
                f = conn.next() => match f {
                    None => break,
                    Some(Ok(Frame::Data(input))) => {
                        if s.size() != size {
                            s.resize(size.0, size.1);
                        }
                        let _ = s.input(vec![input.to_vec()]);
                    }
                    Some(Ok(Frame::Request(Request::Resize { cols, rows }))) => {
                        size = (cols, rows);
                        s.resize(cols, rows);
                    }
                    Some(Ok(Frame::Request(Request::Detach))) => {
                        let _ = conn.send(Frame::Reply(Reply::Detached)).await;
                        break;
                    }
                    Some(Ok(other)) => {
                        tracing::warn!("attach: unexpected frame {:?}", kind_of(&other));
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::warn!("attach: closing connection: {e}");
                        break;
                    }
                },
            }
        }
        s.unsubscribe(sub);
    }
}

/// Sends terminal bytes in frames of at most [`MAX_DATA`] (a flood arrives in large batches).
async fn send_data(
    conn: &mut Framed<UnixStream, FrameCodec>,
    mut data: bytes::Bytes,
) -> Result<(), walkie_host_proto::protocol::FrameError> {
    while data.len() > MAX_DATA {
        let head = data.split_to(MAX_DATA);
        conn.feed(Frame::Data(head)).await?;
    }
    conn.send(Frame::Data(data)).await
}

/// Queued output chunks past which an attached client skips to a repaint.
const COALESCE_BACKLOG: usize = 32;

/// Subscribes afresh and sends the repaint; false when the attach is over (exited or gone).
async fn resubscribe(
    conn: &mut Framed<UnixStream, FrameCodec>,
    s: &Session,
    rx: &mut mpsc::Receiver<Event>,
    sub: &mut u64,
) -> bool {
    let (repaint, state, new_rx, new_sub) = s.subscribe(true);
    *rx = new_rx;
    *sub = new_sub;
    if conn.send(Frame::Data(repaint)).await.is_err() {
        s.unsubscribe(new_sub);
        return false;
    }
    if !state.is_live() {
        let _ = conn.send(Frame::Reply(Reply::Exited { state })).await;
        return false;
    }
    true
}

fn kind_of(f: &Frame) -> &'static str {
    match f {
        Frame::Request(_) => "request",
        Frame::Reply(_) => "reply",
        Frame::Data(_) => "data",
    }
}
