//! Attach mode: terminal bytes both ways between one client and one session until the
//! client detaches, the session exits, or the connection drops. The newest client decides
//! the size, as in tmux's "latest" window-size mode; a client far behind a flood skips to a
//! repaint of the current screen instead of replaying every byte.
//!
//! The bytes go either as [`Frame::Data`] on the connection, or, when the client handed
//! over its terminal ([`Terminal`]), straight to and from that terminal: the connection then
//! carries only resizes, the detach and the end.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use walkie_host_proto::keys::filter_detach;
use walkie_host_proto::protocol::{
    Frame, FrameCodec, FrameError, Reply, Request, SessionState, Stream, MAX_DATA,
};

use super::terminal::Terminal;
use crate::session::{Event, Session};

/// How an attach ended.
enum End {
    Detached,
    Exited(SessionState),
    /// The connection or the host is going: nothing more is said.
    Gone,
}

/// Attach mode over the connection: terminal bytes both ways as frames.
pub(super) async fn attach<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    s: Arc<Session>,
    cols: u16,
    rows: u16,
    shutdown: &CancellationToken,
) {
    if begin(conn, &s, (cols, rows), false).await.is_err() {
        return;
    }
    let end = serve(conn, &s, (cols, rows), None, shutdown).await;
    finish(conn, end).await;
}

/// Attach mode with the client's terminal: says so, takes the terminal, serves it, and says
/// how it ended only once the terminal is let go (the client restores it after that).
pub(super) async fn attach_terminal(
    conn: &mut Framed<UnixStream, FrameCodec>,
    s: Arc<Session>,
    cols: u16,
    rows: u16,
    shutdown: &CancellationToken,
) {
    if begin(conn, &s, (cols, rows), true).await.is_err() {
        return;
    }
    // The client sent nothing since its request: the fd is the next thing on the socket.
    if !conn.read_buffer().is_empty() {
        tracing::warn!("attach: bytes before the terminal's handover; closing");
        return;
    }
    let terminal = match Terminal::receive(conn.get_ref()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("attach: no terminal from the client: {e}");
            return;
        }
    };
    let end = serve(conn, &s, (cols, rows), Some(&terminal), shutdown).await;
    drop(terminal);
    finish(conn, end).await;
}

/// The newest client decides the size; then the answer, saying who reads the terminal.
async fn begin<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    s: &Session,
    (cols, rows): (u16, u16),
    terminal: bool,
) -> Result<(), FrameError> {
    if s.state().is_live() {
        s.resize(cols, rows);
    }
    let session = s.info();
    conn.send(Frame::Reply(Reply::Attached { session, terminal }))
        .await
}

/// Says how the attach ended (after the terminal was let go, if there was one).
async fn finish<S: Stream>(conn: &mut Framed<S, FrameCodec>, end: End) {
    let reply = match end {
        End::Detached => Reply::Detached,
        End::Exited(state) => Reply::Exited { state },
        End::Gone => return,
    };
    let _ = conn.send(Frame::Reply(reply)).await;
}

/// The attach itself, until detach, exit, or disconnect.
async fn serve<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    s: &Session,
    mut size: (u16, u16),
    terminal: Option<&Terminal>,
    shutdown: &CancellationToken,
) -> End {
    let (mut rx, mut sub) = match subscribe(conn, terminal, s).await {
        Ok(Some(got)) => got,
        Ok(None) => return End::Exited(s.state()),
        Err(()) => return End::Gone,
    };
    // A detach prefix typed at the end of one read, waiting for the next key.
    let mut armed = false;
    let end = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break End::Gone,
            ev = rx.recv() => match ev {
                Some(Event::Output(first)) => {
                    if rx.len() >= COALESCE_BACKLOG {
                        // Far behind a flood: jump to the current screen instead of
                        // replaying every byte, as tmux redraws rather than replays.
                        s.unsubscribe(sub);
                        match subscribe(conn, terminal, s).await {
                            Ok(Some(got)) => (rx, sub) = got,
                            Ok(None) => return End::Exited(s.state()),
                            Err(()) => return End::Gone,
                        }
                        continue;
                    }
                    // The usual case (a keystroke's echo, a batch the client keeps up
                    // with): the batch as it is, not copied.
                    if rx.is_empty() {
                        if send(conn, terminal, first).await.is_err() {
                            break End::Gone;
                        }
                        continue;
                    }
                    // Coalesce what is already queued into fewer, larger writes.
                    let mut buf = bytes::BytesMut::from(&first[..]);
                    let mut exited = None;
                    while buf.len() < MAX_DATA {
                        match rx.try_recv() {
                            Ok(Event::Output(more)) => buf.extend_from_slice(&more),
                            Ok(Event::Exited(state)) => {
                                exited = Some(state);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if send(conn, terminal, buf.freeze()).await.is_err() {
                        break End::Gone;
                    }
                    if let Some(state) = exited {
                        break End::Exited(state);
                    }
                }
                Some(Event::Exited(state)) => break End::Exited(state),
                None => {
                    // Dropped for being slow (or the session ended while we lagged):
                    // start again from a repaint of the current screen.
                    match subscribe(conn, terminal, s).await {
                        Ok(Some(got)) => (rx, sub) = got,
                        Ok(None) => return End::Exited(s.state()),
                        Err(()) => return End::Gone,
                    }
                }
            },
            keys = read_terminal(terminal) => match keys {
                Some(keys) => {
                    let (typed, detach) = filter_detach(&keys, &mut armed);
                    if !typed.is_empty() {
                        type_in(s, size, typed);
                    }
                    if detach {
                        break End::Detached;
                    }
                }
                // The terminal went away (ssh dropped): detach, the session goes on.
                None => break End::Detached,
            },
            f = conn.next() => match f {
                None => break End::Gone,
                Some(Ok(Frame::Data(input))) if terminal.is_none() => {
                    type_in(s, size, input.to_vec());
                }
                Some(Ok(Frame::Request(Request::Resize { cols, rows }))) => {
                    size = (cols, rows);
                    s.resize(cols, rows);
                }
                Some(Ok(Frame::Request(Request::Detach))) => break End::Detached,
                Some(Ok(other)) => {
                    tracing::warn!("attach: unexpected frame {:?}", kind_of(&other));
                    break End::Gone;
                }
                Some(Err(e)) => {
                    tracing::warn!("attach: closing connection: {e}");
                    break End::Gone;
                }
            },
        }
    };
    s.unsubscribe(sub);
    end
}

/// Keys from the handed-over terminal; never ready without one.
async fn read_terminal(terminal: Option<&Terminal>) -> Option<Vec<u8>> {
    match terminal {
        Some(t) => t.read().await,
        None => std::future::pending().await,
    }
}

/// Types what the client typed; its size first if another client changed it meanwhile.
fn type_in(s: &Session, size: (u16, u16), keys: Vec<u8>) {
    if s.size() != size {
        s.resize(size.0, size.1);
    }
    let _ = s.input(vec![keys], None);
}

/// Sends terminal bytes: to the terminal, or in frames of at most [`MAX_DATA`] (a flood
/// arrives in large batches).
async fn send<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    terminal: Option<&Terminal>,
    mut data: bytes::Bytes,
) -> Result<(), ()> {
    match terminal {
        Some(t) => t.write_all(&data).await.map_err(|_| ()),
        None => {
            let sent: Result<(), FrameError> = async {
                while data.len() > MAX_DATA {
                    let head = data.split_to(MAX_DATA);
                    conn.feed(Frame::Data(head)).await?;
                }
                conn.send(Frame::Data(data)).await
            }
            .await;
            sent.map_err(|_| ())
        }
    }
}

/// Queued output chunks past which an attached client skips to a repaint.
const COALESCE_BACKLOG: usize = 32;

/// Subscribes and sends the repaint: `Ok(None)` when the session is no longer live (the
/// repaint shows its last screen), `Err` when the client is gone.
async fn subscribe<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    terminal: Option<&Terminal>,
    s: &Session,
) -> Result<Option<(mpsc::Receiver<Event>, u64)>, ()> {
    let (repaint, state, rx, sub) = s.subscribe(true);
    if send(conn, terminal, repaint).await.is_err() {
        s.unsubscribe(sub);
        return Err(());
    }
    if !state.is_live() {
        return Ok(None);
    }
    Ok(Some((rx, sub)))
}

pub(super) fn kind_of(f: &Frame) -> &'static str {
    match f {
        Frame::Request(_) => "request",
        Frame::Reply(_) => "reply",
        Frame::Data(_) => "data",
    }
}
