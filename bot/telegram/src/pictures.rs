//! Live pictures (`/watch NAME`): one document message per (chat, session) showing the
//! session's screen as a PNG, replaced (editMessageMedia) when the screen changed, at most
//! every [`MIN_GAP`] and inside the chat's shared pacing budget (every edit takes its
//! place in [`crate::pace::Pacer`] like any other send), with a small keyboard of keys and
//! Stop. It stops on Stop, after `telegram.watch_s`, when the session ends, or when a new
//! `/watch` of the same session in the same chat replaces it; the last picture stays, its
//! caption saying why it stopped.
//!
//! The screen is compared as the host's cell snapshot (secrets masked there), so an
//! unchanged screen is neither drawn nor sent; drawing runs in `spawn_blocking`
//! ([`walkie_console::requests::shot`]).

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

use crate::pace::Scope;
use crate::tg::Tg;

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

/// Why a live picture stopped, as its last caption says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Stopped,
    TimeUp,
    Replaced,
    Gone,
}

impl End {
    fn note(self, minutes: u64) -> String {
        match self {
            End::Stopped => "⏹ stopped".into(),
            End::TimeUp => format!("⏹ stopped after {minutes} min (/watch again to go on)"),
            End::Replaced => "⏹ replaced by a newer /watch".into(),
            End::Gone => "⏹ the session ended".into(),
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
    run_for: Duration,
    running: Mutex<HashMap<(i64, String), Running>>,
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

impl<H: Host> LivePictures<H> {
    pub(crate) fn new(tg: Tg, host: Arc<H>, run_for: Duration) -> Arc<Self> {
        Arc::new(LivePictures {
            tg,
            host,
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
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let run = Running {
            serial,
            stop: Arc::new(Notify::new()),
            why: Arc::new(Mutex::new(End::Stopped)),
            poke: Arc::new(Notify::new()),
        };
        let (stop, why, poke) = (run.stop.clone(), run.why.clone(), run.poke.clone());
        if let Some(old) = self.lock().insert((chat, session.to_string()), run) {
            end(&old, End::Replaced);
        }
        let this = self.clone();
        let session = session.to_string();
        tokio::spawn(async move {
            this.run(chat, &session, &stop, &why, &poke).await;
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

    async fn run(&self, chat: i64, session: &str, stop: &Notify, why: &Mutex<End>, poke: &Notify) {
        let deadline = Instant::now() + self.run_for;
        let first = match self.host.snapshot(session).await {
            Ok(s) => s,
            Err(e) => {
                let _ = self
                    .tg
                    .send_text(chat, &ShotError::Host(e).answer(session))
                    .await;
                return;
            }
        };
        let mut doc = match draw(first.clone(), session).await {
            Ok(d) => d,
            Err(e) => {
                let _ = self.tg.send_text(chat, &e.answer(session)).await;
                return;
            }
        };
        let keyboard = keyboard(session);
        let message = match self.tg.send_document(chat, &doc, Some(&keyboard)).await {
            Ok(m) => m.id.0,
            Err(e) => {
                tracing::warn!(chat, session, error = %e, "live picture not posted");
                return;
            }
        };
        let mut shown = first;
        let mut last_sent = Instant::now();
        let mut end_by_itself = None;
        loop {
            let next = (last_sent + MIN_GAP).max(Instant::now() + POLL);
            tokio::select! {
                () = stop.notified() => break,
                () = tokio::time::sleep_until(next.min(deadline)) => {}
                () = poke.notified() => {
                    // Look as soon as the gap allows, not a poll later.
                    tokio::select! {
                        () = stop.notified() => break,
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
            if snapshot == shown {
                continue;
            }
            let next_doc = match draw(snapshot.clone(), session).await {
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
                    return;
                }
                Err(e) => {
                    tracing::warn!(chat, session, error = %e, "live picture not edited");
                    last_sent = Instant::now();
                    continue;
                }
            }
            shown = snapshot;
            doc = next_doc;
            last_sent = Instant::now();
        }
        let why = end_by_itself.unwrap_or_else(|| *why.lock().unwrap_or_else(|p| p.into_inner()));
        let minutes = self.run_for.as_secs().div_ceil(60);
        let caption = format!("{} · {}", doc.caption, why.note(minutes));
        if let Err(e) = self.tg.edit_caption(chat, message, &caption).await {
            tracing::warn!(chat, session, error = %e, "live picture's last caption not shown");
        }
    }
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
