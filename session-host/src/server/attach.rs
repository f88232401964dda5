//! Attach mode: terminal bytes both ways between one client and one session until the
//! client detaches, the session exits, or the connection drops. The newest client decides
//! the size, as in tmux's "latest" window-size mode; a client far behind a flood skips to a
//! repaint of the current screen instead of replaying every byte.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use walkie_host_proto::protocol::{Frame, FrameCodec, Reply, Request, Stream, MAX_DATA};

use crate::session::{Event, Session};

/// Attach mode: terminal bytes both ways until detach, exit, or disconnect.
pub(super) async fn attach<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
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
    // A large screen of colours is megabytes of escapes: sent as several frames.
    if send_data(conn, repaint).await.is_err() {
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
                    // The usual case (a keystroke's echo, a batch the client keeps up
                    // with): the batch as it is, not copied.
                    if rx.is_empty() {
                        if send_data(conn, first).await.is_err() {
                            break;
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
                    let _ = s.input(vec![input.to_vec()], None);
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

/// Sends terminal bytes in frames of at most [`MAX_DATA`] (a flood arrives in large batches).
async fn send_data<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
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
async fn resubscribe<S: Stream>(
    conn: &mut Framed<S, FrameCodec>,
    s: &Session,
    rx: &mut mpsc::Receiver<Event>,
    sub: &mut u64,
) -> bool {
    let (repaint, state, new_rx, new_sub) = s.subscribe(true);
    *rx = new_rx;
    *sub = new_sub;
    if send_data(conn, repaint).await.is_err() {
        s.unsubscribe(new_sub);
        return false;
    }
    if !state.is_live() {
        let _ = conn.send(Frame::Reply(Reply::Exited { state })).await;
        return false;
    }
    true
}

pub(super) fn kind_of(f: &Frame) -> &'static str {
    match f {
        Frame::Request(_) => "request",
        Frame::Reply(_) => "reply",
        Frame::Data(_) => "data",
    }
}
