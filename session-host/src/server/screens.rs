//! Screen watchers ([`Request::WatchScreens`]): the bot hears that a session's screen
//! changed instead of reading every watched screen every second.
//!
//! One small task per watched session subscribes to it as a watcher (a subscriber that does
//! not answer terminal queries, so nothing changes for the session) and turns its output
//! into [`Reply::ScreenChanged`]: the first output at once, then at most one event per
//! [`SCREEN_CHANGE_GAP_MS`] (whatever came in a gap is told once at its end). The session
//! never waits for a watcher: its subscriber queue is bounded and a watcher too slow to
//! drain it is dropped by the session as any slow subscriber is; the task then subscribes
//! again and tells a change (something may have been missed). The events of all the tasks
//! go through one bounded queue to the connection: a slow connection holds up only them.
//!
//! An idle session costs nothing: its task sleeps on its queue, no timer runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use walkie_host_proto::protocol::{
    ErrorKind, Frame, FrameCodec, Reply, Request, SessionState, Stream, SCREEN_CHANGE_GAP_MS,
};

use super::conn::send_reply;
use super::{err, Host};
use crate::session::{Event, Session};

/// Events waiting for the connection, over all its sessions.
const CHANGE_QUEUE: usize = 256;

const GAP: Duration = Duration::from_millis(SCREEN_CHANGE_GAP_MS);

/// Serves a screen watch on `conn` until the client leaves or the host shuts down.
pub(super) async fn serve<S: Stream>(
    host: &Host,
    conn: &mut Framed<S, FrameCodec>,
    names: Vec<String>,
    shutdown: &CancellationToken,
) {
    if send_reply(conn, Reply::Ok).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::channel(CHANGE_QUEUE);
    let mut followed = Followed::default();
    followed.set(host, names, &tx);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            frame = conn.next() => match frame {
                Some(Ok(Frame::Request(Request::WatchScreens { names }))) => {
                    followed.set(host, names, &tx);
                }
                Some(Ok(_)) => {
                    let refusal = err(
                        ErrorKind::BadRequest,
                        "a screen watch takes only WatchScreens (to change its set)",
                    );
                    let _ = send_reply(conn, refusal).await;
                    return;
                }
                None | Some(Err(_)) => return,
            },
            Some(reply) = rx.recv() => {
                if send_reply(conn, reply).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The watched sessions' tasks, ended when the watch ends or a session leaves the set.
#[derive(Default)]
struct Followed {
    tasks: HashMap<String, JoinHandle<()>>,
}

impl Drop for Followed {
    fn drop(&mut self) {
        for (_, t) in self.tasks.drain() {
            t.abort();
        }
    }
}

impl Followed {
    /// Follows exactly `names`: the others stop; a new name, or one whose task ended (its
    /// session exited, or did not exist: it may run again now), starts with an event.
    fn set(&mut self, host: &Host, names: Vec<String>, tx: &mpsc::Sender<Reply>) {
        self.tasks.retain(|name, task| {
            let keep = names.contains(name);
            if !keep {
                task.abort();
            }
            keep
        });
        for name in names {
            if self.tasks.get(&name).is_some_and(|t| !t.is_finished()) {
                continue;
            }
            let task = match host.table.live(&name) {
                Ok(session) => tokio::spawn(follow(session, name.clone(), tx.clone())),
                Err(_) => {
                    let state = host.table.state_of(&name);
                    let tx = tx.clone();
                    let name = name.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(changed(&name, 0, state)).await;
                    })
                }
            };
            self.tasks.insert(name, task);
        }
    }
}

fn changed(name: &str, seq: u64, state: Option<SessionState>) -> Reply {
    Reply::ScreenChanged {
        name: name.to_string(),
        seq,
        state,
    }
}

/// Unsubscribes when the task ends or is aborted.
struct Subscription<'a> {
    session: &'a Session,
    id: u64,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.session.unsubscribe(self.id);
    }
}

/// Tells `session`'s changes on `tx` until it exits or the receiver goes.
async fn follow(session: Arc<Session>, name: String, tx: mpsc::Sender<Reply>) {
    let mut seq = 0u64;
    loop {
        let (_repaint, state, mut events, id) = session.subscribe(false);
        let _sub = Subscription {
            session: &session,
            id,
        };
        // The first event, or after a resubscription: output may have been missed.
        seq += 1;
        let live = state.is_live();
        if tx.send(changed(&name, seq, Some(state))).await.is_err() || !live {
            return;
        }
        // While `gap_end` is set an event was told lately; output then is told at its end.
        let mut gap_end: Option<Instant> = None;
        let mut pending = false;
        loop {
            let event = match gap_end {
                Some(end) => match tokio::time::timeout_at(end, events.recv()).await {
                    Ok(e) => e,
                    Err(_) => {
                        gap_end = None;
                        if std::mem::take(&mut pending) {
                            seq += 1;
                            if tx
                                .send(changed(&name, seq, Some(session.state())))
                                .await
                                .is_err()
                            {
                                return;
                            }
                            gap_end = Some(Instant::now() + GAP);
                        }
                        continue;
                    }
                },
                None => events.recv().await,
            };
            match event {
                Some(Event::Output(_)) if gap_end.is_some() => pending = true,
                Some(Event::Output(_)) => {
                    seq += 1;
                    if tx
                        .send(changed(&name, seq, Some(session.state())))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    gap_end = Some(Instant::now() + GAP);
                }
                Some(Event::Exited(state)) => {
                    let _ = tx.send(changed(&name, seq + 1, Some(state))).await;
                    return;
                }
                // Dropped as too slow, or the session ended: subscribe again (which says).
                None => break,
            }
        }
    }
}
