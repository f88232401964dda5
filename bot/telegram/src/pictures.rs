//! Live pictures (`/watch NAME`): one document message per (chat, session) showing the
//! session's screen as a PNG, replaced (editMessageMedia) when the screen changed, at most
//! every [`MIN_GAP`] and inside the chat's shared pacing budget (every edit takes its
//! place in [`crate::pace::Pacer`] like any other send), with a small keyboard of keys and
//! Stop. It stops on Stop, after `telegram.watch_s`, when the session ends, or when a new
//! `/watch` of the same session in the same chat replaces it; the last picture stays, its
//! caption saying why it stopped.
//!
//! The screen is compared as a hash of the host's cell snapshot (secrets masked there), so
//! an unchanged screen is neither drawn nor sent; drawing runs in `spawn_blocking`
//! ([`walkie_console::requests::shot`]).
//!
//! A running picture is kept in the store ([`walkie_console::picture_store`]): a restarted
//! bot resumes it ([`LivePictures::resume`]): the same message edited, its keys and Stop
//! working, or past its time its final note. Uploads are delivered like cards: the first
//! picture is retried in place after transient failures; a failed edit is tried again after
//! 0.5 s, doubling to 15 s (with the screen as it is then), for up to [`DELIVER_FOR`]; an
//! API error (a 400) is final at once. Either way the chat is told when a picture finally
//! cannot be sent, and the live picture stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::ApiError;
use tokio::sync::Notify;
use tokio::time::Instant;
use walkie_console::fleet::Fleet;
use walkie_console::host::Host;
use walkie_console::requests::shot::{draw, ShotError};
use walkie_host_proto::client::ClientError;
use walkie_host_proto::protocol::ErrorKind;

use walkie_console::front::{ChatId, MessageRef};
use walkie_console::picture_store::LivePicture;
use walkie_console::session::SessionRef;
use walkie_console::store::{now_unix, Store};
use walkie_host_proto::snapshot::Snapshot;

use crate::pace::Scope;
use crate::tg::{Tg, TgError, DELIVER_FOR};

/// Callback data of the Stop button: `wst:NAME`.
pub(crate) const STOP_PREFIX: &str = "wst:";
/// Callback data of a key button: `wk:KEY:NAME` (at most 3 + 6 + 1 + 32 bytes, under 64).
pub(crate) const KEY_PREFIX: &str = "wk:";

/// The keys under a live picture: (label, key name as `/keys` takes it).
pub(crate) const KEYS: [(&str, &str); 6] = [
    ("Esc", "Escape"),
    ("⏎", "Enter"),
    ("↑", "Up"),
    ("↓", "Down"),
    ("Tab", "Tab"),
    ("C-c", "C-c"),
];

/// The shortest time between two pictures of one live picture.
pub(crate) const MIN_GAP: Duration = Duration::from_secs(5);

/// How often the screen is looked at once [`MIN_GAP`] has passed and nothing changed.
const POLL: Duration = Duration::from_millis(700);

/// The first wait before a failed edit is tried again (the cards' backoff), doubled after
/// each failure up to [`MAX_RETRY_GAP`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY_GAP: Duration = Duration::from_secs(15);

/// Why a live picture stopped, as its last caption says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Stopped,
    TimeUp,
    Replaced,
    Gone,
    /// Telegram would not take a picture (an API error, or failures for [`DELIVER_FOR`]).
    Refused,
}

impl End {
    fn note(self, minutes: u64) -> String {
        match self {
            End::Stopped => "⏹ stopped".into(),
            End::TimeUp => format!("⏹ stopped after {minutes} min (/watch again to go on)"),
            End::Replaced => "⏹ replaced by a newer /watch".into(),
            End::Gone => "⏹ the session ended".into(),
            End::Refused => "⏹ stopped: Telegram did not take a picture".into(),
        }
    }
}

struct Running {
    serial: u64,
    stop: Arc<Notify>,
    why: Arc<Mutex<End>>,
    /// Pressed keys: look again at once (still no sooner than [`MIN_GAP`]).
    poke: Arc<Notify>,
}

/// All live pictures of the bot.
pub(crate) struct LivePictures<H = Fleet> {
    tg: Tg,
    host: Arc<H>,
    store: Store,
    run_for: Duration,
    running: Mutex<HashMap<(i64, String), Running>>,
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

impl<H: Host> LivePictures<H> {
    pub(crate) fn new(tg: Tg, host: Arc<H>, store: Store, run_for: Duration) -> Arc<Self> {
        Arc::new(LivePictures {
            tg,
            host,
            store,
            run_for,
            running: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, String), Running>> {
        // A map of handles; every critical section leaves it consistent.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a live picture of `session` in `chat`, replacing one that runs.
    pub(crate) fn start(self: &Arc<Self>, chat: i64, session: &str) {
        self.spawn(chat, session, None);
    }

    /// Resumes the live pictures the store kept when the bot last stopped: each goes on
    /// editing its message, or (past its time, or its session gone) gets its final note.
    pub(crate) async fn resume(self: &Arc<Self>) {
        match self.store.live_pictures().await {
            Ok(list) => {
                for p in list {
                    tracing::info!(chat = p.chat.0, session = %p.session, "live picture resumed");
                    let session = p.session.to_string();
                    self.spawn(p.chat.0, &session, Some(p));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read live pictures; they do not resume"),
        }
    }

    fn spawn(self: &Arc<Self>, chat: i64, session: &str, resumed: Option<LivePicture>) {
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let run = Running {
            serial,
            stop: Arc::new(Notify::new()),
            why: Arc::new(Mutex::new(End::Stopped)),
            poke: Arc::new(Notify::new()),
        };
        let signals = Signals {
            stop: run.stop.clone(),
            why: run.why.clone(),
            poke: run.poke.clone(),
        };
        if let Some(old) = self.lock().insert((chat, session.to_string()), run) {
            end(&old, End::Replaced);
        }
        let this = self.clone();
        let session = session.to_string();
        tokio::spawn(async move {
            this.run(chat, &session, resumed, &signals).await;
            let mut map = this.lock();
            if map
                .get(&(chat, session.clone()))
                .is_some_and(|r| r.serial == serial)
            {
                map.remove(&(chat, session));
            }
        });
    }

    /// Stops the live picture of `session` in `chat` (its Stop button); false if none runs.
    pub(crate) fn stop(&self, chat: i64, session: &str) -> bool {
        match self.lock().remove(&(chat, session.to_string())) {
            Some(r) => {
                end(&r, End::Stopped);
                true
            }
            None => false,
        }
    }

    /// Keys were typed into `session` from `chat`'s live picture: look again soon.
    pub(crate) fn poke(&self, chat: i64, session: &str) {
        if let Some(r) = self.lock().get(&(chat, session.to_string())) {
            r.poke.notify_one();
        }
    }

    /// Posts the first picture (or takes over a resumed one's message), then edits it as
    /// the screen changes until it ends.
    async fn run(&self, chat: i64, session: &str, resumed: Option<LivePicture>, sig: &Signals) {
        let (message, mut caption, mut shown, deadline) = match resumed {
            Some(p) => {
                let left = u64::try_from(p.until - now_unix()).unwrap_or(0);
                let Ok(message) = i32::try_from(p.message.0) else {
                    self.forget(chat, p.message.0).await;
                    return;
                };
                (
                    message,
                    p.caption,
                    p.shown,
                    Instant::now() + Duration::from_secs(left),
                )
            }
            None => match self.first(chat, session).await {
                Some(v) => v,
                None => return,
            },
        };
        let keyboard = keyboard(session);
        let mut last_sent = Instant::now();
        let mut end_by_itself = None;
        // Transient failures in a row: when the first was, and the wait before the next try.
        let mut failing: Option<(Instant, Duration)> = None;
        loop {
            if Instant::now() >= deadline {
                end_by_itself = Some(End::TimeUp);
                break;
            }
            let next = match failing {
                Some((_, gap)) => Instant::now() + gap,
                None => (last_sent + MIN_GAP).max(Instant::now() + POLL),
            };
            tokio::select! {
                () = sig.stop.notified() => break,
                () = tokio::time::sleep_until(next.min(deadline)) => {}
                () = sig.poke.notified() => {
                    // Look as soon as the gap allows, not a poll later.
                    tokio::select! {
                        () = sig.stop.notified() => break,
                        () = tokio::time::sleep_until((last_sent + MIN_GAP).min(deadline)) => {}
                    }
                }
            }
            if Instant::now() >= deadline {
                end_by_itself = Some(End::TimeUp);
                break;
            }
            let snapshot = match self.host.snapshot(session).await {
                Ok(s) => s,
                Err(ClientError::Host {
                    kind: ErrorKind::NoSuchSession | ErrorKind::NotRunning,
                    ..
                }) => {
                    end_by_itself = Some(End::Gone);
                    break;
                }
                Err(e) => {
                    tracing::debug!(chat, session, error = %e, "live picture: no snapshot");
                    continue;
                }
            };
            let hash = snapshot_hash(&snapshot);
            if shown.as_deref() == Some(hash.as_str()) {
                failing = None;
                continue;
            }
            let next_doc = match draw(snapshot, session).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(chat, session, error = %e, "live picture not drawn");
                    continue;
                }
            };
            match self
                .tg
                .edit_document_once(chat, message, &next_doc, Some(&keyboard))
                .await
            {
                Ok(()) => {}
                Err(e) if e.is(&ApiError::MessageNotModified) => {}
                Err(e) if e.retry_after.is_some() => {
                    let wait = e.retry_after.unwrap_or(MIN_GAP);
                    self.tg.pacer.retry_after(Scope::Chat(chat), wait);
                    // Not shown: the next look compares with what is on the phone.
                    last_sent = Instant::now();
                    continue;
                }
                Err(e) if e.is(&ApiError::MessageToEditNotFound) => {
                    tracing::info!(chat, session, "live picture deleted; it stops");
                    self.forget(chat, i64::from(message)).await;
                    return;
                }
                Err(e) if e.transient => {
                    let (since, gap) = failing.unwrap_or((Instant::now(), FIRST_RETRY));
                    if since.elapsed() + gap >= DELIVER_FOR {
                        self.refused(chat, session, &e).await;
                        end_by_itself = Some(End::Refused);
                        break;
                    }
                    tracing::warn!(chat, session, error = %e, retry_in = ?gap, "live picture not edited; trying again");
                    failing = Some((since, (gap * 2).min(MAX_RETRY_GAP)));
                    continue;
                }
                Err(e) => {
                    self.refused(chat, session, &e).await;
                    end_by_itself = Some(End::Refused);
                    break;
                }
            }
            failing = None;
            shown = Some(hash);
            caption = next_doc.caption;
            last_sent = Instant::now();
            if let Err(e) = self
                .store
                .live_picture_shown(
                    ChatId(chat),
                    MessageRef(i64::from(message)),
                    shown.as_deref().unwrap_or_default(),
                    &caption,
                )
                .await
            {
                tracing::warn!(chat, session, error = %e, "live picture's state not stored");
            }
        }
        let why =
            end_by_itself.unwrap_or_else(|| *sig.why.lock().unwrap_or_else(|p| p.into_inner()));
        self.forget(chat, i64::from(message)).await;
        let minutes = self.run_for.as_secs().div_ceil(60);
        let caption = format!("{caption} · {}", why.note(minutes));
        if let Err(e) = self.tg.edit_caption(chat, message, &caption).await {
            tracing::warn!(chat, session, error = %e, "live picture's last caption not shown");
        }
    }

    /// Draws and posts the first picture and records it; `None` if there is none (the chat
    /// has been told why).
    async fn first(
        &self,
        chat: i64,
        session: &str,
    ) -> Option<(i32, String, Option<String>, Instant)> {
        let deadline = Instant::now() + self.run_for;
        let until = now_unix() + i64::try_from(self.run_for.as_secs()).unwrap_or(i64::MAX / 2);
        let snapshot = match self.host.snapshot(session).await {
            Ok(s) => s,
            Err(e) => {
                let _ = self
                    .tg
                    .send_text(chat, &ShotError::Host(e).answer(session))
                    .await;
                return None;
            }
        };
        let hash = snapshot_hash(&snapshot);
        let doc = match draw(snapshot, session).await {
            Ok(d) => d,
            Err(e) => {
                let _ = self.tg.send_text(chat, &e.answer(session)).await;
                return None;
            }
        };
        let message = match self
            .tg
            .send_document(chat, &doc, Some(&keyboard(session)))
            .await
        {
            Ok(m) => m.id.0,
            Err(e) => {
                tracing::warn!(chat, session, error = %e, "live picture not posted");
                self.tg
                    .not_sent(chat, &format!("The live picture of {session}"), &e)
                    .await;
                return None;
            }
        };
        let kept = LivePicture {
            chat: ChatId(chat),
            session: SessionRef::address(session),
            message: MessageRef(i64::from(message)),
            until,
            shown: Some(hash.clone()),
            caption: doc.caption.clone(),
        };
        if let Err(e) = self.store.save_live_picture(&kept).await {
            // It runs; only a restart would not resume it.
            tracing::warn!(chat, session, error = %e, "live picture not stored");
        }
        Some((message, doc.caption, Some(hash), deadline))
    }

    /// A picture Telegram would not take: the chat is told (the live picture stops).
    async fn refused(&self, chat: i64, session: &str, e: &TgError) {
        tracing::warn!(chat, session, error = %e, "live picture not edited; it stops");
        self.tg
            .not_sent(chat, &format!("A new picture of {session}"), e)
            .await;
    }

    async fn forget(&self, chat: i64, message: i64) {
        if let Err(e) = self
            .store
            .clear_live_picture(ChatId(chat), MessageRef(message))
            .await
        {
            tracing::warn!(chat, message, error = %e, "ended live picture still stored");
        }
    }
}

/// A running picture's signals, held by its task.
struct Signals {
    stop: Arc<Notify>,
    why: Arc<Mutex<End>>,
    poke: Arc<Notify>,
}

/// A stable hash of a snapshot (64-bit FNV-1a of its wire form), kept in the store to tell
/// a changed screen after a restart; std's hasher may change between builds.
fn snapshot_hash(s: &Snapshot) -> String {
    let bytes = serde_json::to_vec(s).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn end(r: &Running, why: End) {
    *r.why.lock().unwrap_or_else(|p| p.into_inner()) = why;
    r.stop.notify_one();
}

/// Keys in one row, Stop under them.
pub(crate) fn keyboard(session: &str) -> InlineKeyboardMarkup {
    let keys = KEYS
        .iter()
        .map(|(label, key)| {
            InlineKeyboardButton::callback(*label, format!("{KEY_PREFIX}{key}:{session}"))
        })
        .collect::<Vec<_>>();
    InlineKeyboardMarkup::new(vec![
        keys,
        vec![InlineKeyboardButton::callback(
            "⏹ Stop",
            format!("{STOP_PREFIX}{session}"),
        )],
    ])
}

/// A key button's (key, session), if `data` is one.
pub(crate) fn parse_key(data: &str) -> Option<(&str, &str)> {
    let rest = data.strip_prefix(KEY_PREFIX)?;
    let (key, session) = rest.split_once(':')?;
    KEYS.iter()
        .any(|(_, k)| *k == key)
        .then_some((key, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_fit_telegrams_64_bytes_and_parse_back() {
        let long = "a".repeat(32);
        let k = keyboard(&long);
        for row in &k.inline_keyboard {
            for b in row {
                let teloxide::types::InlineKeyboardButtonKind::CallbackData(d) = &b.kind else {
                    panic!("{b:?}");
                };
                assert!(d.len() <= 64, "{d}");
                if d.starts_with(KEY_PREFIX) {
                    let (key, s) = parse_key(d).expect(d);
                    assert!(key.parse::<walkie_host_proto::keys::Key>().is_ok(), "{key}");
                    assert_eq!(s, long);
                }
            }
        }
        assert_eq!(parse_key("wk:rm -rf:x"), None);
    }
}
