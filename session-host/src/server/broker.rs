//! The ask broker: asks waiting for a decision, the connections that watch them (the bot),
//! decisions (the first one wins) and notices.
//!
//! [`Broker`] is plain state behind a lock, testable without a socket; [`Broker::serve_ask`]
//! and [`Broker::serve_watch`] are the two connection modes built on it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use walkie_host_proto::ask::{AskPayload, Decision, NoticeKind};
use walkie_host_proto::protocol::{ErrorKind, Frame, FrameCodec, PendingAsk, Reply, Stream};
use walkie_host_proto::revival::Revived;

use super::{err, now_ms};

/// Replies queued to one watcher; one that falls this far behind is dropped (it reconnects
/// and gets the pending list again).
const WATCH_QUEUE: usize = 256;

/// The longest an ask may wait.
const MAX_ASK: Duration = Duration::from_secs(24 * 3600);

struct Asks {
    next_id: u64,
    pending: BTreeMap<u64, (PendingAsk, oneshot::Sender<Decision>)>,
    watchers: Vec<mpsc::Sender<Reply>>,
    /// The revival report of this host's start, until a watcher has taken it.
    revived: Option<Reply>,
}

impl Asks {
    /// A watcher that cannot keep up is dropped.
    fn notify(&mut self, r: Reply) {
        self.watchers.retain(|w| w.try_send(r.clone()).is_ok());
    }
}

pub(super) struct Broker {
    asks: Mutex<Asks>,
}

/// An ask registered with the broker, waiting for its end.
pub(super) struct Ticket {
    pub id: u64,
    pub timeout: Duration,
    decision: oneshot::Receiver<Decision>,
}

/// How an ask ended.
#[derive(Debug, PartialEq)]
pub(super) enum AskEnd {
    Decided(Decision),
    Timeout,
    /// The asker stopped waiting (or the host is shutting down).
    Gone,
}

impl Broker {
    /// A broker whose first ask gets `first_id`.
    pub fn new(first_id: u64) -> Broker {
        Broker {
            asks: Mutex::new(Asks {
                next_id: first_id,
                pending: BTreeMap::new(),
                watchers: Vec::new(),
                revived: None,
            }),
        }
    }

    fn asks(&self) -> MutexGuard<'_, Asks> {
        self.asks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an ask and shows it to every watcher.
    pub fn open(&self, session: &str, payload: AskPayload, timeout_ms: u64) -> Ticket {
        let timeout = Duration::from_millis(timeout_ms).clamp(Duration::from_millis(1), MAX_ASK);
        let (tx, rx) = oneshot::channel();
        let mut a = self.asks();
        let id = a.next_id;
        a.next_id += 1;
        let now = now_ms();
        let ask = PendingAsk {
            id,
            session: session.into(),
            payload,
            created_ms: now,
            deadline_ms: now + timeout.as_millis() as u64,
        };
        a.pending.insert(id, (ask.clone(), tx));
        a.notify(Reply::Asked { ask });
        Ticket {
            id,
            timeout,
            decision: rx,
        }
    }

    /// Waits for the ask's decision, its timeout, or `gone` (the asker left). An ask that
    /// ends undecided is closed for the watchers; a decision made at the same moment as a
    /// timeout or a leave still wins.
    pub async fn wait(&self, ticket: Ticket, gone: impl Future<Output = ()>) -> AskEnd {
        let Ticket {
            id,
            timeout,
            decision: mut rx,
        } = ticket;
        let end = tokio::select! {
            d = &mut rx => match d {
                Ok(d) => return AskEnd::Decided(d),
                Err(_) => AskEnd::Gone,
            },
            _ = tokio::time::sleep(timeout) => AskEnd::Timeout,
            _ = gone => AskEnd::Gone,
        };
        let mut a = self.asks();
        if a.pending.remove(&id).is_some() {
            a.notify(Reply::AskClosed { id, decision: None });
            return end;
        }
        // Decided meanwhile: decide() sent the decision before releasing the lock we hold.
        drop(a);
        match rx.try_recv() {
            Ok(d) => AskEnd::Decided(d),
            Err(_) => end,
        }
    }

    /// Decides a pending ask; the first decision wins.
    pub fn decide(&self, id: u64, decision: Decision) -> Reply {
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

    /// Passes a notice to the watchers there are now; with none it is dropped.
    pub fn notice(&self, session: String, kind: NoticeKind, text: String) -> Reply {
        tracing::info!(session = %session, ?kind, "notice");
        self.asks().notify(Reply::Notice {
            session,
            kind,
            text,
        });
        Reply::Ok
    }

    /// The report of what came back after the host started: to the watchers there are,
    /// else kept for the first one, so the phone hears of it once.
    pub fn revived(&self, sessions: Vec<Revived>) {
        let mut a = self.asks();
        let r = Reply::Revived { sessions };
        if a.watchers.is_empty() {
            a.revived = Some(r);
        } else {
            a.notify(r);
        }
    }

    /// A new watcher: its queue of replies, and the asks pending right now (which it sees
    /// first, so none is missed between the two).
    pub fn watch(&self) -> (mpsc::Receiver<Reply>, Vec<PendingAsk>) {
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        let mut a = self.asks();
        if let Some(r) = a.revived.take() {
            let _ = tx.try_send(r);
        }
        a.watchers.push(tx);
        let pending = a.pending.values().map(|(p, _)| p.clone()).collect();
        (rx, pending)
    }

    /// A connection's ask: held until it is decided, expires, or the asker leaves (any frame
    /// from it, or its close). Returns false when the connection is over.
    pub async fn serve_ask<S: Stream>(
        &self,
        conn: &mut Framed<S, FrameCodec>,
        session: String,
        payload: AskPayload,
        timeout_ms: u64,
        shutdown: &CancellationToken,
    ) -> bool {
        let ticket = self.open(&session, payload, timeout_ms);
        let (id, timeout) = (ticket.id, ticket.timeout);
        tracing::info!(id, session = %session, "ask pending");
        let gone = async {
            tokio::select! {
                _ = conn.next() => {}
                _ = shutdown.cancelled() => {}
            }
        };
        match self.wait(ticket, gone).await {
            AskEnd::Decided(decision) => {
                tracing::info!(id, session = %session, "ask decided");
                conn.send(Frame::Reply(Reply::Decided { id, decision }))
                    .await
                    .is_ok()
            }
            AskEnd::Timeout => {
                tracing::info!(id, session = %session, "ask expired");
                let reply = err(
                    ErrorKind::Timeout,
                    format!("no decision within {} s", timeout.as_secs()),
                );
                conn.send(Frame::Reply(reply)).await.is_ok()
            }
            AskEnd::Gone => false,
        }
    }

    /// Streams asks to a watcher until it disconnects (or is dropped for being slow).
    pub async fn serve_watch<S: Stream>(
        &self,
        conn: &mut Framed<S, FrameCodec>,
        shutdown: &CancellationToken,
    ) {
        let (mut rx, pending) = self.watch();
        if conn.send(Frame::Reply(Reply::Ok)).await.is_err() {
            return;
        }
        for ask in pending {
            if super::conn::send_reply(conn, Reply::Asked { ask })
                .await
                .is_err()
            {
                return;
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = rx.recv() => match r {
                    Some(r) => {
                        if super::conn::send_reply(conn, r).await.is_err() {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(q: &str) -> AskPayload {
        AskPayload::Question {
            question: q.into(),
            cwd: "/".into(),
        }
    }

    fn deny(reason: &str) -> Decision {
        Decision::Deny {
            reason: reason.into(),
        }
    }

    /// Never ready: the asker stays.
    async fn stays() {
        std::future::pending::<()>().await
    }

    fn next(rx: &mut mpsc::Receiver<Reply>) -> Reply {
        rx.try_recv().expect("a reply for the watcher")
    }

    #[tokio::test]
    async fn the_first_decision_wins() {
        let b = Broker::new(100);
        let (mut w, _) = b.watch();
        let t = b.open("agent", question("deploy?"), 60_000);
        assert_eq!(t.id, 100);
        assert!(matches!(next(&mut w), Reply::Asked { ask } if ask.id == 100));
        assert_eq!(b.decide(100, Decision::Allow), Reply::Ok);
        assert!(matches!(
            b.decide(100, deny("late")),
            Reply::Error {
                kind: ErrorKind::AlreadyDecided,
                ..
            }
        ));
        assert_eq!(b.wait(t, stays()).await, AskEnd::Decided(Decision::Allow));
        assert_eq!(
            next(&mut w),
            Reply::AskClosed {
                id: 100,
                decision: Some(Decision::Allow)
            }
        );
        assert!(w.try_recv().is_err(), "one close, not two");
    }

    #[tokio::test]
    async fn a_new_watcher_sees_the_pending_asks() {
        let b = Broker::new(1);
        let _t1 = b.open("a", question("one?"), 60_000);
        let t2 = b.open("b", question("two?"), 60_000);
        b.decide(t2.id, Decision::Allow);
        let (mut w, pending) = b.watch();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].session, "a");
        assert_eq!(pending[0].payload, question("one?"));
        assert!(pending[0].deadline_ms >= pending[0].created_ms + 60_000);
        // And then the new ones.
        let t3 = b.open("c", question("three?"), 60_000);
        assert!(matches!(next(&mut w), Reply::Asked { ask } if ask.id == t3.id));
    }

    #[tokio::test]
    async fn an_ask_closes_when_its_asker_leaves() {
        let b = Broker::new(1);
        let (mut w, _) = b.watch();
        let t = b.open("agent", question("q?"), 60_000);
        let id = t.id;
        next(&mut w);
        assert_eq!(b.wait(t, async {}).await, AskEnd::Gone);
        assert_eq!(next(&mut w), Reply::AskClosed { id, decision: None });
        // A press after the asker left decides nothing.
        assert!(matches!(
            b.decide(id, Decision::Allow),
            Reply::Error {
                kind: ErrorKind::AlreadyDecided,
                ..
            }
        ));
        assert!(b.watch().1.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_undecided_ask_times_out() {
        let b = Broker::new(1);
        let (mut w, _) = b.watch();
        let t = b.open("agent", question("q?"), 5_000);
        let id = t.id;
        let started = tokio::time::Instant::now();
        assert_eq!(b.wait(t, stays()).await, AskEnd::Timeout);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        next(&mut w);
        assert_eq!(next(&mut w), Reply::AskClosed { id, decision: None });
    }

    #[tokio::test]
    async fn a_decision_beside_a_leave_is_not_lost() {
        // Decided, and the asker's close already seen: whichever the select takes first,
        // the decision is what the asker gets.
        for _ in 0..50 {
            let b = Broker::new(1);
            let t = b.open("agent", question("q?"), 0);
            b.decide(t.id, deny("no"));
            assert_eq!(b.wait(t, async {}).await, AskEnd::Decided(deny("no")));
        }
    }

    #[tokio::test]
    async fn a_slow_watcher_is_dropped_not_waited_for() {
        let b = Broker::new(1);
        let (mut slow, _) = b.watch();
        for i in 0..WATCH_QUEUE + 10 {
            b.notice("s".into(), NoticeKind::TurnEnded, format!("{i}"));
        }
        let mut got = 0;
        while slow.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, WATCH_QUEUE);
        // Its queue was closed: it reconnects to resync.
        assert!(slow.recv().await.is_none());
        let (mut fresh, _) = b.watch();
        b.notice("s".into(), NoticeKind::TurnEnded, "done".into());
        assert_eq!(
            next(&mut fresh),
            Reply::Notice {
                session: "s".into(),
                kind: NoticeKind::TurnEnded,
                text: "done".into()
            }
        );
    }
}
