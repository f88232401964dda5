//! Strangers are refused off the update loop, so that whatever they send the owner's
//! next message waits for nothing but itself.
//!
//! The loop only looks at who sent an update: a stranger's goes into a bounded queue
//! ([`Refusals::divert`], dropped when the queue is full) and the loop moves on. Behind it:
//! - their button presses are answered at once by a task of their own (Telegram gives a
//!   press about 15 s, and an answer posts nothing in the chat, so it takes no budget of
//!   the chat's or the bot's messages);
//! - a worker audits each refusal and decides whether it is answered: at most once an hour
//!   per stranger in a private chat and per *group* in a group (sixty members saying hello
//!   get one refusal between them); presses are never answered with a message;
//! - a sender posts the refusals at a small rate of their own, from a bounded queue that
//!   also drops when full, so strangers can never take the budget the owner needs.
//!
//! Strangers' updates are not claimed in the store: they dispatch nothing, so a restart
//! that sees one again at most refuses it again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{Update, UpdateKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use walkie_console::front::UserId;
use walkie_console::gate::{Action, Gate, Role, Verdict};
use walkie_console::store::{AuditAction, AuditEntry, Store, StoreError};

use crate::live::LiveScreens;
use crate::tg::Tg;

/// Strangers' updates waiting to be audited; more are dropped.
const QUEUE: usize = 1024;

/// Presses waiting for their answer; more are dropped (Telegram stops the spinner anyway).
const ANSWERS: usize = 1024;

/// Refusals waiting to be posted; more are not posted (and not marked as answered, so
/// their stranger is answered next time).
const SENDS: usize = 64;

/// How often a refusal may be posted, at most: a fraction of the bot's ~25 a second.
const SEND_EVERY: Duration = Duration::from_millis(100);

/// One stranger's update, as much of it as the audit needs.
#[derive(Debug)]
struct Refused {
    user: i64,
    chat: i64,
    what: String,
    source: &'static str,
}

/// The refusal queues (see the module docs).
pub(crate) struct Refusals {
    gate: Gate,
    queue: mpsc::Sender<Refused>,
    answers: mpsc::Sender<String>,
    dropped: AtomicU64,
}

/// Who sent an update, in which chat, what it said (`None`: nothing a refusal is for) and
/// the callback query to answer.
fn sender(u: &Update) -> Option<(i64, Option<Refused>, Option<String>)> {
    match &u.kind {
        UpdateKind::Message(m) => {
            let user = i64::try_from(m.from.as_ref()?.id.0).ok()?;
            let (what, source) = if let Some(t) = m.text() {
                (t.chars().take(200).collect(), "text")
            } else if m.voice().is_some() {
                ("(voice note)".to_string(), "voice")
            } else {
                // Joins, photos, stickers: nothing is refused, nothing is said.
                return Some((user, None, None));
            };
            let chat = m.chat.id.0;
            Some((
                user,
                Some(Refused {
                    user,
                    chat,
                    what,
                    source,
                }),
                None,
            ))
        }
        UpdateKind::CallbackQuery(q) => {
            let user = i64::try_from(q.from.id.0).ok()?;
            let refused = q.message.as_ref().map(|m| Refused {
                user,
                chat: m.chat().id.0,
                what: q.data.clone().unwrap_or_default(),
                source: "button",
            });
            Some((user, refused, Some(q.id.0.clone())))
        }
        _ => None,
    }
}

impl Refusals {
    /// Starts the tasks behind the queues; they end with `shutdown`.
    pub(crate) fn start(
        tg: Tg,
        store: Store,
        gate: Gate,
        live: Arc<LiveScreens>,
        shutdown: CancellationToken,
    ) -> Refusals {
        let (queue, rx) = mpsc::channel(QUEUE);
        let (answers, answers_rx) = mpsc::channel(ANSWERS);
        let (sends, sends_rx) = mpsc::channel(SENDS);
        tokio::spawn(until(
            shutdown.clone(),
            answer_presses(tg.clone(), answers_rx),
        ));
        tokio::spawn(until(
            shutdown.clone(),
            audit_and_decide(store, gate.clone(), rx, sends),
        ));
        tokio::spawn(until(shutdown, post_refusals(tg, live, sends_rx)));
        Refusals {
            gate,
            queue,
            answers,
            dropped: AtomicU64::new(0),
        }
    }

    /// Takes `u` off the loop if a stranger sent it (true: the loop is done with it).
    pub(crate) fn divert(&self, u: &Update) -> bool {
        let Some((user, refused, query)) = sender(u) else {
            return false;
        };
        if self.gate.role(UserId(user)) != Role::Stranger {
            return false;
        }
        if let Some(q) = query {
            if self.answers.try_send(q).is_err() {
                self.drop_one("press answer");
            }
        }
        if let Some(r) = refused {
            if self.queue.try_send(r).is_err() {
                self.drop_one("refusal");
            }
        }
        true
    }

    fn drop_one(&self, what: &str) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // A flood makes thousands: say so now and then, not for each.
        if n.is_power_of_two() {
            tracing::warn!(
                dropped = n,
                what,
                "strangers' updates dropped: their queue is full"
            );
        }
    }
}

async fn until(shutdown: CancellationToken, f: impl std::future::Future<Output = ()>) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = f => {}
    }
}

/// Answers strangers' presses silently, at once (see the module docs: not paced).
async fn answer_presses(tg: Tg, mut rx: mpsc::Receiver<String>) {
    while let Some(id) = rx.recv().await {
        let req = tg.bot.answer_callback_query(id.into());
        if let Err(e) = crate::raw::call(&tg.bot, &req).await {
            tracing::debug!(error = %tg.error(e), "a stranger's press was not answered");
        }
    }
}

/// Audits each refusal and queues the ones to answer.
async fn audit_and_decide(
    store: Store,
    gate: Gate,
    mut rx: mpsc::Receiver<Refused>,
    sends: mpsc::Sender<i64>,
) {
    while let Some(r) = rx.recv().await {
        if let Err(e) = refuse(&store, &gate, &r, &sends).await {
            tracing::warn!(user = r.user, chat = r.chat, error = %e, "cannot record a refusal");
        }
    }
}

/// In a group the group is answered, once an hour whoever writes; in a private chat the
/// stranger. A group is kept as one stranger under its (negative) chat id.
fn answer_key(r: &Refused) -> i64 {
    if r.chat == r.user {
        r.user
    } else {
        r.chat
    }
}

async fn refuse(
    store: &Store,
    gate: &Gate,
    r: &Refused,
    sends: &mpsc::Sender<i64>,
) -> Result<(), StoreError> {
    let mut last = store.stranger_refused(UserId(r.user)).await?;
    let key = answer_key(r);
    if key != r.user {
        last = store.stranger_refused(UserId(key)).await?;
    }
    let due = matches!(
        gate.check(UserId(r.user), Action::Read, last),
        Verdict::Refuse { reply: Some(_) }
    ) && r.source != "button";
    let answered = due && sends.try_send(r.chat).is_ok();
    if answered {
        store.stranger_answered(UserId(key)).await?;
    }
    store
        .audit(&AuditEntry {
            user_id: Some(UserId(r.user)),
            chat_id: Some(walkie_console::front::ChatId(r.chat)),
            action: AuditAction::Refused,
            source: Some(r.source.into()),
            text: Some(r.what.clone()),
            detail: Some(format!(
                "{:?}; {}",
                Role::Stranger,
                match (answered, due) {
                    (true, _) => "answered",
                    (false, true) => "silent (too many refusals waiting)",
                    (false, false) => "silent",
                }
            )),
            ..AuditEntry::default()
        })
        .await?;
    tracing::info!(user = r.user, chat = r.chat, "refused an update");
    Ok(())
}

/// Posts the queued refusals, one per [`SEND_EVERY`] at most.
async fn post_refusals(tg: Tg, live: Arc<LiveScreens>, mut rx: mpsc::Receiver<i64>) {
    let mut tick = tokio::time::interval(SEND_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while let Some(chat) = rx.recv().await {
        tick.tick().await;
        match tg.send_text(chat, walkie_console::gate::REFUSAL_TEXT).await {
            // The bot's own message does push live screens up.
            Ok(_) => live.saw_message(chat),
            Err(e) => tracing::warn!(chat, error = %e, "cannot post a refusal"),
        }
    }
}
