//! One connection: socket security, the handshake, and the request loop that hands each
//! request to the piece that owns it.
//!
//! Security: the socket's directory is 0700 and the socket 0600, and every connection's peer
//! uid (SO_PEERCRED) must equal the host's, so only the user who runs the host can type into
//! its sessions. A malformed or oversized frame closes that one connection with an error in
//! the log; nothing a client sends can take the host down.
//!
//! Deciding is narrower still: `WatchAsks` and `Decide` are refused (and logged) from any peer
//! that runs inside one of the host's sessions, so an agent cannot approve its own ask. The
//! peer's pid (SO_PEERCRED) is traced up the process tree; see [`crate::lineage`] for why a
//! double fork does not escape that, and what does.
//!
//! Every reply goes through [`send_reply`], which sends a long one in parts (or, if it can
//! never fit, as a `TooLarge` error) instead of failing the connection.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{Framed, FramedParts};
use tokio_util::sync::CancellationToken;
use walkie_host_proto::protocol::{
    split_reply, ErrorKind, Frame, FrameCodec, FrameError, Reply, Request, Stream, PROTOCOL_VERSION,
};

use super::attach::{attach, attach_terminal, kind_of};
use super::{err, io_err, Host, HostError};
use crate::session::Session;

/// Binds the socket: directory 0700, socket 0600. A socket file that answers belongs to a
/// running host and is left alone; one that does not answer is stale and replaced.
pub(super) async fn bind(socket: &Path) -> Result<UnixListener, HostError> {
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

/// Serves one accepted connection: refused unless its peer is the host's own user.
pub(super) async fn serve(host: Arc<Host>, stream: UnixStream, shutdown: CancellationToken) {
    let peer = stream.peer_cred().ok();
    // A peer whose pid the kernel does not give is traced as pid 0, which fails closed.
    let peer_pid = peer
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    let mut conn = Framed::new(stream, FrameCodec);
    match peer {
        Some(c) if c.uid() == host.uid => {}
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
    let peer = Peer {
        pid: Some(peer_pid),
    };
    let mut greeted = false;
    loop {
        match converse(&host, &mut conn, peer, &shutdown, greeted, true).await {
            Ended::Closed => return,
            Ended::Attach(s, cols, rows, terminal) => {
                greeted = true;
                match attach_on_pool(conn, s, (cols, rows), terminal, shutdown.clone()).await {
                    Some(back) => conn = back,
                    None => return,
                }
            }
        }
    }
}

/// How a conversation ended.
pub(super) enum Ended {
    /// The client left, a frame was bad, or the host shuts down.
    Closed,
    /// The client asked to attach to this live session at this size, handing over its
    /// terminal or not (only when the caller moves attaches, see [`attach_on_pool`]).
    Attach(Arc<Session>, u16, u16, bool),
}

/// Serves an attach on the PTY pool with the socket registered there, then hands the
/// connection back to the host's runtime (None when it is closed): the session's pump, the
/// attach task and both of their fds are then one runtime's, so a keystroke's echo goes
/// PTY -> pump -> socket without waking a thread of another runtime (tmux's echo path has no
/// hand-off at all; issue #18 target 2). Everything else a connection asks stays on the
/// host's runtime.
async fn attach_on_pool(
    conn: Framed<UnixStream, FrameCodec>,
    s: Arc<Session>,
    size: (u16, u16),
    terminal: bool,
    shutdown: CancellationToken,
) -> Option<Framed<UnixStream, FrameCodec>> {
    let moving = unregister(conn)?;
    let served = crate::pty::handle().spawn(async move {
        let mut conn = register(moving)?;
        match terminal {
            true => attach_terminal(&mut conn, s, size.0, size.1, &shutdown).await,
            false => attach(&mut conn, s, size.0, size.1, &shutdown).await,
        }
        unregister(conn)
    });
    // Awaited, so that the host's shutdown still waits for this connection.
    register(served.await.ok()??)
}

/// A connection between runtimes: the socket, and what its codec had read (input typed
/// right after the attach) and not yet sent.
type Moving = (
    std::os::unix::net::UnixStream,
    bytes::BytesMut,
    bytes::BytesMut,
);

/// Takes the connection off the current runtime's reactor.
fn unregister(conn: Framed<UnixStream, FrameCodec>) -> Option<Moving> {
    let parts = conn.into_parts();
    // Still non-blocking, as `from_std` needs.
    match parts.io.into_std() {
        Ok(io) => Some((io, parts.read_buf, parts.write_buf)),
        Err(e) => {
            tracing::warn!("cannot move a connection between runtimes: {e}");
            None
        }
    }
}

/// Registers a moved connection with the current runtime's reactor.
fn register((io, read_buf, write_buf): Moving) -> Option<Framed<UnixStream, FrameCodec>> {
    let io = UnixStream::from_std(io)
        .map_err(|e| tracing::warn!("cannot move a connection between runtimes: {e}"))
        .ok()?;
    let mut parts = FramedParts::new::<Frame>(io, FrameCodec);
    parts.read_buf = read_buf;
    parts.write_buf = write_buf;
    Some(Framed::from_parts(parts))
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer {
    /// From SO_PEERCRED; `None` for a stream with no peer process (an in-memory one).
    pub pid: Option<u32>,
}

impl Peer {
    /// Whether this peer may watch and decide asks: only from outside the host's sessions.
    fn may_decide(&self) -> bool {
        self.pid
            .is_none_or(|pid| !crate::lineage::descends_from(pid, std::process::id()))
    }
}

/// Sends `reply`, in parts if it is long (see [`split_reply`]).
pub(super) async fn send_reply<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    reply: Reply,
) -> Result<(), FrameError> {
    for part in split_reply(reply) {
        conn.feed(Frame::Reply(part)).await?;
    }
    conn.flush().await
}

/// The handshake, then requests until the client leaves, a frame is bad, or shutdown.
/// `greeted` continues a connection that said hello before it attached. With `move_attach`, an
/// attach to a live session is not served here but answered as [`Ended::Attach`], for the
/// caller to move the connection to the PTY pool.
async fn converse<S: Stream>(
    host: &Host,
    conn: &mut Framed<S, FrameCodec>,
    peer: Peer,
    shutdown: &CancellationToken,
    mut greeted: bool,
    move_attach: bool,
) -> Ended {
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Closed,
            f = conn.next() => f,
        };
        let req = match frame {
            None => return Ended::Closed,
            Some(Ok(Frame::Request(r))) => r,
            Some(Ok(other)) => {
                tracing::warn!("closing connection: unexpected frame {:?}", kind_of(&other));
                let _ = conn
                    .send(Frame::Reply(err(
                        ErrorKind::BadRequest,
                        "expected a request",
                    )))
                    .await;
                return Ended::Closed;
            }
            Some(Err(e)) => {
                tracing::warn!("closing connection: {e}");
                let _ = conn
                    .send(Frame::Reply(err(ErrorKind::BadRequest, e.to_string())))
                    .await;
                return Ended::Closed;
            }
        };
        if !greeted {
            match greet(&req) {
                Ok(hello) => {
                    greeted = true;
                    if conn.send(Frame::Reply(hello)).await.is_err() {
                        return Ended::Closed;
                    }
                    continue;
                }
                Err(refusal) => {
                    let _ = conn.send(Frame::Reply(refusal)).await;
                    return Ended::Closed;
                }
            }
        }
        if matches!(req, Request::WatchAsks | Request::Decide { .. }) && !peer.may_decide() {
            tracing::warn!(
                peer_pid = ?peer.pid,
                request = if matches!(req, Request::WatchAsks) { "watch_asks" } else { "decide" },
                "refused: the peer runs inside a walkie session, and sessions may not see or decide asks"
            );
            let refusal = err(
                ErrorKind::PermissionDenied,
                "processes inside walkie sessions may not watch or decide asks; decide on the phone (the bot) or from a terminal outside the sessions",
            );
            if send_reply(conn, refusal).await.is_err() {
                return Ended::Closed;
            }
            continue;
        }
        // The requests that change what the connection is; the rest are one reply each.
        match req {
            Request::Ask {
                session,
                payload,
                timeout_ms,
            } => {
                let open = host
                    .broker
                    .serve_ask(conn, session, payload, timeout_ms, shutdown)
                    .await;
                if !open {
                    return Ended::Closed;
                }
            }
            Request::WatchAsks => {
                host.broker.serve_watch(conn, shutdown).await;
                return Ended::Closed;
            }
            Request::WatchScreens { names } => {
                super::screens::serve(host, conn, names, shutdown).await;
                return Ended::Closed;
            }
            Request::Attach {
                name,
                cols,
                rows,
                terminal,
            } => match host.table.live(&name) {
                Ok(s) if move_attach => return Ended::Attach(s, cols, rows, terminal),
                // Not on the host's own socket: frames only (the reply says so).
                Ok(s) => attach(conn, s, cols, rows, shutdown).await,
                Err(reply) => {
                    if send_reply(conn, reply).await.is_err() {
                        return Ended::Closed;
                    }
                }
            },
            req => {
                let reply = handle(host, req).await;
                if send_reply(conn, reply).await.is_err() {
                    return Ended::Closed;
                }
            }
        }
    }
}

/// The answer to a connection's first request: only a hello of this protocol version.
// The error is the reply sent as is, once per connection.
#[allow(clippy::result_large_err)]
fn greet(req: &Request) -> Result<Reply, Reply> {
    match req {
        Request::Hello { version } if *version == PROTOCOL_VERSION => Ok(Reply::Hello {
            version: PROTOCOL_VERSION,
            pid: std::process::id(),
        }),
        Request::Hello { version } => Err(err(ErrorKind::Version, version_mismatch(*version))),
        _ => Err(err(ErrorKind::BadRequest, "say hello first")),
    }
}

/// Which side to upgrade: the client may be this box's own newer binary (the host was not
/// restarted after an upgrade) or another box's walkie reaching us over ssh.
fn version_mismatch(client: u32) -> String {
    if client > PROTOCOL_VERSION {
        format!(
            "the client speaks protocol {client}, this host only {PROTOCOL_VERSION}: the host is older: upgrade walkie where the host runs and restart the host (`systemctl --user restart walkie-host`, or kill it)"
        )
    } else {
        format!(
            "the client speaks protocol {client}, this host {PROTOCOL_VERSION}: the client is older: upgrade the walkie that connects (or restart it, if it is this box's own after an upgrade)"
        )
    }
}

/// One request, one reply.
async fn handle(host: &Host, req: Request) -> Reply {
    let table = &host.table;
    match req {
        Request::New(spec) => table.create(spec).await,
        Request::List => table.list().await,
        Request::Input {
            name,
            chunks,
            source,
            dispatch,
        } => table.input(&name, chunks, source, dispatch).await,
        Request::Screen { name, ansi } => table.screen(&name, ansi),
        Request::Tail { name, lines } => table.tail(&name, lines),
        Request::Snapshot { name } => table.snapshot(&name),
        Request::Boundary { name } => table.boundary(&name),
        Request::Widen { name, change, by } => table.widen(&name, &change, by.as_deref()),
        Request::Pause { name } => table.pause_resume(&name, true).await,
        Request::Resume { name } => table.pause_resume(&name, false).await,
        Request::Kill { name, force } => table.kill(&name, force),
        Request::Wait { name, timeout_ms } => table.wait(&name, timeout_ms).await,
        Request::Rm { name } => table.rm(&name).await,
        Request::Revive { name } => table.revive(&name).await,
        Request::Decide { id, decision } => host.broker.decide(id, decision),
        Request::Notice {
            session,
            kind,
            text,
        } => host.broker.notice(session, kind, text),
        Request::AgentSession { session, agent, id } => {
            table.agent_session(&session, agent, &id).await
        }
        Request::Hello { .. } => err(ErrorKind::BadRequest, "already greeted"),
        Request::Resize { .. } | Request::Detach => err(ErrorKind::BadRequest, "not attached"),
        Request::Ask { .. }
        | Request::WatchAsks
        | Request::WatchScreens { .. }
        | Request::Attach { .. } => err(ErrorKind::BadRequest, "handled by the connection"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::broker::Broker;
    use crate::server::table::tests::open;
    use walkie_host_proto::ask::{AskPayload, Decision};
    use walkie_host_proto::protocol::{NewSession, SessionState};

    /// A host on a fresh store, served over an in-memory stream; returns the client's end.
    async fn connect(dir: &Path) -> (Framed<tokio::io::DuplexStream, FrameCodec>, Arc<Host>) {
        let (table, mut exits) = open(dir).await;
        let host = Arc::new(Host {
            table,
            broker: Arc::new(Broker::new(1)),
            uid: 0,
        });
        let h = host.clone();
        tokio::spawn(async move {
            while let Some(exit) = exits.recv().await {
                h.table.record_exit(exit).await;
            }
        });
        (connect_to(&host).await, host)
    }

    async fn call(c: &mut Framed<tokio::io::DuplexStream, FrameCodec>, req: Request) -> Reply {
        c.send(Frame::Request(req)).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
            Ok(Some(Ok(Frame::Reply(r)))) => r,
            other => panic!("{other:?}"),
        }
    }

    fn kind(r: &Reply) -> Option<ErrorKind> {
        match r {
            Reply::Error { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hello_comes_first_and_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, _) = connect(dir.path()).await;
        let r = call(&mut c, Request::List).await;
        assert_eq!(kind(&r), Some(ErrorKind::BadRequest), "{r:?}");
        // Then the host closes.
        assert!(c.next().await.is_none());

        let (mut c, _) = connect(dir.path()).await;
        let r = call(
            &mut c,
            Request::Hello {
                version: PROTOCOL_VERSION + 1,
            },
        )
        .await;
        assert_eq!(kind(&r), Some(ErrorKind::Version), "{r:?}");
        assert!(c.next().await.is_none());
    }

    #[test]
    fn a_version_mismatch_says_which_side_to_upgrade() {
        let newer = version_mismatch(PROTOCOL_VERSION + 1);
        assert!(newer.contains("the host is older"), "{newer}");
        assert!(
            newer.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
            "{newer}"
        );
        let older = version_mismatch(PROTOCOL_VERSION - 1);
        assert!(older.contains("the client is older"), "{older}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_reach_the_table_and_the_broker() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, host) = connect(dir.path()).await;
        let hello = call(
            &mut c,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .await;
        assert!(matches!(hello, Reply::Hello { .. }), "{hello:?}");
        let r = call(
            &mut c,
            Request::New(NewSession {
                name: "w".into(),
                command: vec!["sleep".into(), "30".into()],
                cwd: None,
                env: vec![],
                size: Some((100, 40)),
                record: true,
                preset: None,
                resume: None,
                sandbox: None,
                network: None,
                expand: false,
            }),
        )
        .await;
        assert_eq!(r, Reply::Created { name: "w".into() });
        match call(&mut c, Request::List).await {
            Reply::Sessions { sessions } => {
                assert_eq!(sessions.len(), 1);
                assert_eq!((sessions[0].cols, sessions[0].rows), (100, 40));
            }
            other => panic!("{other:?}"),
        }
        let r = call(&mut c, Request::Hello { version: 2 }).await;
        assert_eq!(kind(&r), Some(ErrorKind::BadRequest), "{r:?}");
        let r = call(&mut c, Request::Detach).await;
        assert_eq!(kind(&r), Some(ErrorKind::BadRequest), "{r:?}");
        // An ask on this connection, decided by the broker, is answered here.
        let question = AskPayload::Question {
            question: "go?".into(),
            cwd: "/".into(),
        };
        let (mut watch, _) = host.broker.watch();
        c.send(Frame::Request(Request::Ask {
            session: "w".into(),
            payload: question,
            timeout_ms: 30_000,
        }))
        .await
        .unwrap();
        let id = match tokio::time::timeout(Duration::from_secs(30), watch.recv()).await {
            Ok(Some(Reply::Asked { ask })) => ask.id,
            other => panic!("{other:?}"),
        };
        assert_eq!(host.broker.decide(id, Decision::Allow), Reply::Ok);
        match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
            Ok(Some(Ok(Frame::Reply(Reply::Decided { id: got, decision })))) => {
                assert_eq!((got, decision), (id, Decision::Allow));
            }
            other => panic!("{other:?}"),
        }
        // A bad frame ends only this connection, with the reason.
        c.send(Frame::Data(bytes::Bytes::from_static(b"x")))
            .await
            .unwrap();
        match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
            Ok(Some(Ok(Frame::Reply(r)))) => assert_eq!(kind(&r), Some(ErrorKind::BadRequest)),
            other => panic!("{other:?}"),
        }
        host.table.end_all().await;
    }

    /// The next frame's reply within 10 s.
    async fn next_reply(c: &mut Framed<tokio::io::DuplexStream, FrameCodec>) -> Reply {
        match tokio::time::timeout(Duration::from_secs(10), c.next()).await {
            Ok(Some(Ok(Frame::Reply(r)))) => r,
            other => panic!("{other:?}"),
        }
    }

    fn seq_of(r: &Reply, want: &str) -> (u64, Option<SessionState>) {
        match r {
            Reply::ScreenChanged { name, seq, state } if name == want => (*seq, state.clone()),
            other => panic!("expected a change of {want}: {other:?}"),
        }
    }

    /// A session running `command`, unrecorded, at the default size.
    fn spec(name: &str, command: &[&str]) -> NewSession {
        NewSession {
            name: name.into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            cwd: None,
            env: vec![],
            size: None,
            record: false,
            preset: None,
            resume: None,
            sandbox: None,
            network: None,
            expand: false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_attach_over_the_socket_moves_to_the_pool_and_back() {
        let dir = tempfile::tempdir().unwrap();
        // The peer check (SO_PEERCRED) is real here: the host is this test's own user.
        let (table, _exits) = open(dir.path()).await;
        let host = Arc::new(Host {
            table,
            broker: Arc::new(Broker::new(1)),
            uid: nix::unistd::getuid().as_raw(),
        });
        let (ours, theirs) = UnixStream::pair().unwrap();
        tokio::spawn(serve(host.clone(), theirs, CancellationToken::new()));
        let mut c = Framed::new(ours, FrameCodec);
        async fn reply(c: &mut Framed<UnixStream, FrameCodec>, req: Request) -> Reply {
            c.send(Frame::Request(req)).await.unwrap();
            loop {
                match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
                    Ok(Some(Ok(Frame::Reply(r)))) => return r,
                    Ok(Some(Ok(Frame::Data(_)))) => continue,
                    other => panic!("{other:?}"),
                }
            }
        }
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
        };
        assert!(matches!(reply(&mut c, hello).await, Reply::Hello { .. }));
        let r = reply(&mut c, Request::New(spec("m", &["cat"]))).await;
        assert_eq!(r, Reply::Created { name: "m".into() });
        let attach = Request::Attach {
            name: "m".into(),
            cols: 80,
            rows: 24,
            terminal: false,
        };
        assert!(matches!(
            reply(&mut c, attach).await,
            Reply::Attached { .. }
        ));
        // Typed on the pool, echoed by `cat` through the pump to this socket.
        c.send(Frame::Data(bytes::Bytes::from_static(b"moved\r")))
            .await
            .unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("moved") {
            match tokio::time::timeout(Duration::from_secs(30), c.next()).await {
                Ok(Some(Ok(Frame::Data(d)))) => seen.extend_from_slice(&d),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(reply(&mut c, Request::Detach).await, Reply::Detached);
        // Back on the host's runtime, the same connection (already greeted) goes on.
        match reply(&mut c, Request::List).await {
            Reply::Sessions { sessions } => assert!(sessions.iter().any(|s| s.name == "m")),
            other => panic!("{other:?}"),
        }
    }

    /// A screen watch tells each session once at once, then a change per output (a burst
    /// coalesced into at most one event per gap, its end told), nothing while idle, the exit,
    /// and a set replaced on the same connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn screen_watchers_hear_changes_coalesced_and_nothing_while_idle() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, host) = connect(dir.path()).await;
        call(
            &mut c,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .await;
        // `cat` echoes what is typed: output exactly when the test types.
        let r = call(&mut c, Request::New(spec("w", &["cat"]))).await;
        assert_eq!(r, Reply::Created { name: "w".into() });
        let mut watch = connect_to(&host).await;
        call(
            &mut watch,
            Request::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .await;
        let ok = call(
            &mut watch,
            Request::WatchScreens {
                names: vec!["w".into(), "nope".into()],
            },
        )
        .await;
        assert_eq!(ok, Reply::Ok);
        let mut first = std::collections::HashMap::new();
        for _ in 0..2 {
            match next_reply(&mut watch).await {
                Reply::ScreenChanged { name, seq, state } => {
                    first.insert(name, (seq, state));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(first["nope"], (0, None));
        let (s0, st) = first["w"].clone();
        assert_eq!(st, Some(SessionState::Running));
        // Idle: nothing for 600 ms (three gaps).
        let quiet = tokio::time::timeout(Duration::from_millis(600), watch.next()).await;
        assert!(quiet.is_err(), "an idle session told a change: {quiet:?}");
        // A burst of 20 inputs in well under a gap: at most one event at once and one at
        // the gap's end (coalesced), then quiet again.
        for i in 0..20 {
            let r = call(
                &mut c,
                Request::Input {
                    name: "w".into(),
                    chunks: vec![format!("line {i}\r").into_bytes()],
                    source: None,
                    dispatch: None,
                },
            )
            .await;
            assert!(matches!(r, Reply::Typed { .. }), "{r:?}");
        }
        let (s1, _) = seq_of(&next_reply(&mut watch).await, "w");
        assert!(s1 > s0);
        let mut events = 1;
        let mut last = s1;
        while let Ok(Some(Ok(Frame::Reply(r)))) =
            tokio::time::timeout(Duration::from_millis(600), watch.next()).await
        {
            let (s, _) = seq_of(&r, "w");
            assert!(s > last, "seq must grow: {s} after {last}");
            last = s;
            events += 1;
        }
        assert!(
            events <= 4,
            "20 quick inputs made {events} events: not coalesced"
        );
        // The screen read after the last event shows the last line.
        match call(
            &mut c,
            Request::Screen {
                name: "w".into(),
                ansi: false,
            },
        )
        .await
        {
            Reply::Text { text } => assert!(text.contains("line 19"), "{text}"),
            other => panic!("{other:?}"),
        }
        // The set replaced: `w` only; an exit is told with its state.
        watch
            .send(Frame::Request(Request::WatchScreens {
                names: vec!["w".into()],
            }))
            .await
            .unwrap();
        let r = call(
            &mut c,
            Request::Kill {
                name: "w".into(),
                force: true,
            },
        )
        .await;
        assert!(!matches!(r, Reply::Error { .. }), "{r:?}");
        loop {
            let (s, state) = seq_of(&next_reply(&mut watch).await, "w");
            assert!(s >= last);
            if let Some(SessionState::Exited { .. }) = state {
                break;
            }
            last = s;
        }
        host.table.end_all().await;
    }

    /// A second connection to the same host.
    async fn connect_to(host: &Arc<Host>) -> Framed<tokio::io::DuplexStream, FrameCodec> {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let h = host.clone();
        tokio::spawn(async move {
            let mut conn = Framed::new(theirs, FrameCodec);
            converse(
                &h,
                &mut conn,
                Peer { pid: None },
                &CancellationToken::new(),
                false,
                false,
            )
            .await;
        });
        Framed::new(ours, FrameCodec)
    }
}
