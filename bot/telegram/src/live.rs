//! Live screens: for each (chat, session) a chat works with, one message that shows the
//! session's current screen (the emulator's, not the byte stream), edited when it changes.
//!
//! Two tasks per live screen:
//! - a watcher polls the host for the screen and state, renders it, and publishes the
//!   result on a `watch` channel (which keeps only the latest state);
//! - a shower ([`run_coalesced_as`]) takes budget from the chat's pacer and edits the
//!   message to the latest state, so intermediate states are dropped and the last one
//!   always lands.
//!
//! The watcher also posts the notifications (new messages, so the phone makes a sound):
//! the session exited, or it went quiet after working. It stops after the session has
//! been idle for a while; the next dispatch starts it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide::ApiError;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use walkie_host_proto::client::ClientError;
use walkie_host_proto::protocol::{ErrorKind, SessionInfo, SessionState};

use super::dashboard::{self, Busy, DashView};
use super::pace::{run_coalesced_as, Outcome};
use super::render::{escape_html, render_live, utf16_len};
use super::tg::Tg;
use crate::lost::{self, LostReports};
use walkie_console::activity::{Activity, ActivityConfig, Seen};
use walkie_console::fleet::Fleet;
use walkie_console::front::{ChatId, MessageRef};
use walkie_console::host::Host;
use walkie_console::session::SessionRef;
use walkie_console::store::Store;

/// Timing of live screens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveConfig {
    /// How often the watcher looks at the screen.
    pub(crate) poll: Duration,
    /// When a session went quiet, or idles.
    pub(crate) activity: ActivityConfig,
    /// Messages after the live one before it is re-posted at the bottom.
    pub(crate) scroll_limit: u64,
    /// Exit and went-quiet notifications buzz in chats that chose no `/notify` level.
    pub(crate) buzz_by_default: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            poll: Duration::from_millis(500),
            activity: ActivityConfig::default(),
            scroll_limit: 8,
            buzz_by_default: true,
        }
    }
}

/// Polls between two refreshes of a session's state.
const INFO_EVERY: u64 = 4;

/// With the host pushing a screen's changes, how often an unchanged live screen still
/// looks (the activity's went-quiet and idle timers, the state every [`INFO_EVERY`]).
pub(crate) const IDLE_LOOK: Duration = Duration::from_secs(5);

struct Handle {
    poke: Arc<Notify>,
    done: watch::Receiver<bool>,
}

/// All live screens of the bot, against any [`Host`] (the real link by default).
pub(crate) struct LiveScreens<H = Fleet> {
    cfg: LiveConfig,
    tg: Tg,
    host: Arc<H>,
    store: Store,
    running: Mutex<HashMap<(i64, String), Handle>>,
    /// Scrolling bookkeeping: per chat, how many other messages (not live screens) have
    /// appeared, and that count when each live message was posted. Live screens do not
    /// count, or ten of them in one chat would keep re-posting each other.
    scroll: Mutex<Scroll>,
    /// When each session last said itself that its turn is over (a Claude Code `Stop`
    /// hook): a "went quiet" guess for the same turn would only buzz the phone twice.
    turns_over: Mutex<HashMap<String, Instant>>,
    /// Sessions lost with their host, told per chat.
    lost: Arc<LostReports>,
    /// Per chat, the session it last wrote to or looked at: its live screen goes first in
    /// the chat's budget ([`crate::pace::Want`]).
    focus: Mutex<HashMap<i64, String>>,
    /// When each live screen last changed: who goes to the dashboard.
    busy: Mutex<Busy>,
    /// Per chat, its dashboard ([`crate::dashboard`]).
    dashes: Mutex<HashMap<i64, Dash>>,
}

/// One chat's dashboard: the rows on it, the state its shower edits the message to.
struct Dash {
    rows: std::collections::BTreeMap<String, String>,
    tx: watch::Sender<DashView>,
}

#[derive(Default)]
struct Scroll {
    others: HashMap<i64, u64>,
    posted: HashMap<(i64, String), u64>,
}

impl<H: Host> LiveScreens<H> {
    pub(crate) fn new(cfg: LiveConfig, tg: Tg, host: Arc<H>, store: Store) -> Arc<Self> {
        Arc::new(LiveScreens {
            cfg,
            lost: LostReports::new(tg.clone()),
            tg,
            host,
            store,
            running: Mutex::new(HashMap::new()),
            scroll: Mutex::new(Scroll::default()),
            turns_over: Mutex::new(HashMap::new()),
            focus: Mutex::new(HashMap::new()),
            busy: Mutex::new(Busy::default()),
            dashes: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `session`'s live screen in `chat` goes to the dashboard now.
    fn on_dashboard(&self, chat: i64, session: &str) -> bool {
        let focused = self.is_focus(chat, session);
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.on_dashboard(chat, session, focused, Instant::now())
    }

    fn changed(&self, chat: i64, session: &str) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.changed(chat, session, Instant::now());
    }

    /// Shows `lines` for `session` on `chat`'s dashboard (posted with its first row).
    fn dash_put(self: &Arc<Self>, chat: i64, session: &str, lines: String) {
        let mut dashes = self.dashes.lock().unwrap_or_else(|p| p.into_inner());
        let dash = dashes.entry(chat).or_insert_with(|| {
            let (tx, rx) = watch::channel(DashView::default());
            let this = self.clone();
            tokio::spawn(async move { this.run_dash(chat, rx).await });
            Dash {
                rows: Default::default(),
                tx,
            }
        });
        dash.rows.insert(session.to_string(), lines);
        dash.tx.send_replace(dashboard::render(&dash.rows));
    }

    /// Takes `session` off `chat`'s dashboard, if it is on it.
    fn dash_remove(&self, chat: i64, session: &str) {
        let mut dashes = self.dashes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dash) = dashes.get_mut(&chat) {
            if dash.rows.remove(session).is_some() {
                dash.tx.send_replace(dashboard::render(&dash.rows));
            }
        }
    }

    /// Edits `chat`'s dashboard message to its latest state, paced as a background screen.
    async fn run_dash(self: Arc<Self>, chat: i64, rx: watch::Receiver<DashView>) {
        let message: Arc<Mutex<Option<i32>>> = Arc::new(Mutex::new(None));
        let pacer = self.tg.pacer.clone();
        run_coalesced_as(
            &pacer,
            chat,
            rx,
            || false,
            |view: DashView| {
                let this = self.clone();
                let message = message.clone();
                async move { this.show_dash(chat, &message, &view).await }
            },
        )
        .await;
    }

    async fn show_dash(&self, chat: i64, message: &Mutex<Option<i32>>, view: &DashView) -> Outcome {
        if view.html.is_empty() {
            return Outcome::Done;
        }
        let markup = dashboard::keyboard(&view.names);
        let id = *message.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = id {
            match self
                .tg
                .edit_html_once(chat, id, &view.html, Some(markup.clone()))
                .await
            {
                Ok(()) => return Outcome::Done,
                Err(e) if e.is(&ApiError::MessageNotModified) => return Outcome::Done,
                Err(e) if e.retry_after.is_some() => {
                    return Outcome::RetryAfter(e.retry_after.unwrap_or_default())
                }
                Err(e) if e.is(&ApiError::MessageToEditNotFound) => {} // deleted: post anew
                Err(e) => {
                    tracing::warn!(chat, error = %e, "dashboard: edit failed");
                    return Outcome::Failed;
                }
            }
        }
        match self
            .tg
            .send_html_markup_once(chat, &view.html, markup)
            .await
        {
            Ok(m) => {
                *message.lock().unwrap_or_else(|p| p.into_inner()) = Some(m.id.0);
                Outcome::Done
            }
            Err(e) if e.retry_after.is_some() => {
                Outcome::RetryAfter(e.retry_after.unwrap_or_default())
            }
            Err(e) => {
                tracing::warn!(chat, error = %e, "dashboard: send failed");
                Outcome::Failed
            }
        }
    }

    /// `session` is what `chat` now writes to or looks at.
    pub(crate) fn set_focus(&self, chat: i64, session: &str) {
        let mut f = self.focus.lock().unwrap_or_else(|p| p.into_inner());
        if f.get(&chat).is_none_or(|s| s != session) {
            f.insert(chat, session.to_string());
        }
    }

    fn is_focus(&self, chat: i64, session: &str) -> bool {
        let f = self.focus.lock().unwrap_or_else(|p| p.into_inner());
        f.get(&chat).is_some_and(|s| s == session)
    }

    /// Records that `session` announced the end of its turn (the phone has been told).
    pub(crate) fn turn_over(&self, session: &str) {
        let mut t = self.turns_over.lock().unwrap_or_else(|p| p.into_inner());
        t.insert(session.to_string(), Instant::now());
    }

    fn turn_announced_since(&self, session: &str, since: Instant) -> bool {
        let t = self.turns_over.lock().unwrap_or_else(|p| p.into_inner());
        t.get(session).is_some_and(|at| *at >= since)
    }

    /// Records that a message other than a live screen appeared in `chat` (the user's,
    /// or one of the bot's answers), pushing the live screens up.
    pub(crate) fn saw_message(&self, chat: i64) {
        let mut sc = self.scroll.lock().unwrap_or_else(|p| p.into_inner());
        *sc.others.entry(chat).or_default() += 1;
    }

    /// Has `session`'s live message scrolled far up? (Unknown after a restart: no.)
    fn scrolled(&self, chat: i64, session: &str) -> bool {
        let sc = self.scroll.lock().unwrap_or_else(|p| p.into_inner());
        let now = sc.others.get(&chat).copied().unwrap_or(0);
        sc.posted
            .get(&(chat, session.to_string()))
            .is_some_and(|&at| now.saturating_sub(at) > self.cfg.scroll_limit)
    }

    fn posted(&self, chat: i64, session: &str) {
        let mut sc = self.scroll.lock().unwrap_or_else(|p| p.into_inner());
        let now = sc.others.get(&chat).copied().unwrap_or(0);
        sc.posted.insert((chat, session.to_string()), now);
    }

    /// Makes sure `session`'s live screen runs in `chat`, and refreshes it now.
    pub(crate) fn ensure(self: &Arc<Self>, chat: i64, session: &str) {
        let key = (chat, session.to_string());
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = running.get(&key) {
            if !*h.done.borrow() {
                h.poke.notify_one();
                return;
            }
        }
        let poke = Arc::new(Notify::new());
        let (done_tx, done_rx) = watch::channel(false);
        running.insert(
            key,
            Handle {
                poke: poke.clone(),
                done: done_rx,
            },
        );
        let this = self.clone();
        let session = session.to_string();
        tokio::spawn(async move {
            this.run(chat, session, poke).await;
            let _ = done_tx.send(true);
        });
    }

    async fn run(self: Arc<Self>, chat: i64, session: String, poke: Arc<Notify>) {
        let (tx, rx) = watch::channel(String::new());
        let shower = {
            let this = self.clone();
            let session = session.clone();
            tokio::spawn(async move {
                let pacer = this.tg.pacer.clone();
                let focused = || this.is_focus(chat, &session);
                run_coalesced_as(&pacer, chat, rx, focused, |html: String| {
                    let this = this.clone();
                    let session = session.clone();
                    async move { this.show(chat, &session, &html).await }
                })
                .await;
            })
        };
        self.watch(chat, &session, &tx, &poke).await;
        // However the watch ended, the screen is not busy and not on the dashboard any more.
        self.dash_remove(chat, &session);
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(chat, &session);
        drop(tx);
        let _ = shower.await;
    }

    /// Polls the host and publishes rendered screens until the session ends or idles.
    async fn watch(
        self: &Arc<Self>,
        chat: i64,
        session: &str,
        tx: &watch::Sender<String>,
        poke: &Notify,
    ) {
        let cfg = self.cfg;
        let mut activity = Activity::new(cfg.activity, Instant::now());
        let mut info = None;
        // The last screen shown, kept for the header that says the session is lost.
        let mut last_screen = String::new();
        // The last rendered state, shown on its own message or not (the dashboard).
        let mut last_html = String::new();
        let mut gone = 0;
        let mut recheck = false;
        // A screen refused as not running, looked into once (by the state) before giving up.
        let mut not_running = false;
        // When the host pushes this screen's changes, it is read only after one (or a
        // poke), at most once a poll; else on every poll, as before.
        let mut follow = self.host.changes().and_then(|c| c.follow(session));
        let mut read_at: Option<(Option<u64>, Instant)> = None;
        let mut poked = true;
        let mut told = false;
        for tick in 0u64.. {
            let generation = follow.as_ref().and_then(|f| f.generation());
            // The host stopped telling (an exit, a lost host): the state says why.
            if std::mem::replace(&mut told, generation.is_some()) && generation.is_none() {
                recheck = true;
            }
            // The state (a list of every session) is refreshed every few polls only: with
            // many live screens the screens are what must stay fresh.
            let stale_info =
                tick % INFO_EVERY == 0 || info.is_none() || std::mem::take(&mut recheck);
            let fetched = if stale_info {
                Some(self.host.info(session).await)
            } else {
                None
            };
            let info: &SessionInfo = match fetched {
                None => match &info {
                    Some(i) => i,
                    None => continue,
                },
                Some(Ok(Some(i))) if matches!(i.state, SessionState::Lost) => {
                    if self.lost(chat, session, &last_screen, tx).await {
                        return;
                    }
                    gone = 0;
                    recheck = true;
                    continue;
                }
                Some(Err(e)) if lost::host_gone(&e) => {
                    gone += 1;
                    tracing::warn!(chat, session, error = %e, "live screen: no host");
                    if gone >= lost::GONE_AFTER {
                        if self.lost(chat, session, &last_screen, tx).await {
                            return;
                        }
                        gone = 0;
                        recheck = true;
                        continue;
                    }
                    tokio::time::sleep(cfg.poll * 4).await;
                    continue;
                }
                Some(Ok(Some(i))) => {
                    gone = 0;
                    info.insert(i)
                }
                Some(Ok(None))
                | Some(Err(ClientError::Host {
                    kind: ErrorKind::NoSuchSession,
                    ..
                })) => {
                    tracing::info!(chat, session, "live screen: the session is gone");
                    return;
                }
                Some(Err(e)) => {
                    tracing::warn!(chat, session, error = %e, "live screen: host unreachable");
                    tokio::time::sleep(cfg.poll * 4).await;
                    continue;
                }
            };
            let unchanged = generation.is_some()
                && !std::mem::take(&mut poked)
                && read_at.is_some_and(|(g, _)| g == generation);
            let screen = match unchanged {
                true => Ok(last_screen.clone()),
                false => {
                    read_at = Some((generation, Instant::now()));
                    self.host.screen(session).await
                }
            };
            let screen = match screen {
                Ok(s) => s,
                // The host may have died under the call: its state says (next look).
                Err(e) if lost::host_may_be_gone(&e) => {
                    tracing::warn!(chat, session, error = %e, "live screen: no screen; host gone?");
                    recheck = true;
                    tokio::time::sleep(cfg.poll).await;
                    continue;
                }
                // Lost with a host that restarted (its state, looked at next, says whether
                // it is coming back), or just exited (the state says so too).
                Err(ClientError::Host {
                    kind: ErrorKind::NotRunning,
                    ..
                }) if !std::mem::replace(&mut not_running, true) => {
                    recheck = true;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(chat, session, error = %e, "live screen: no screen");
                    return;
                }
            };
            let seen = activity.observe(&screen, Instant::now());
            last_screen.clone_from(&screen);
            let label = info.state.label();
            let header = format!("<b>{}</b> · {}", escape_html(session), escape_html(&label));
            let header_len = utf16_len(session) + 3 + utf16_len(&label);
            let html = render_live(Some(&header), header_len, &screen);
            if last_html != html {
                // The first screen is not work: a session just started is not busy.
                if !last_html.is_empty() {
                    self.changed(chat, session);
                }
                last_html.clone_from(&html);
            }
            let exited = matches!(info.state, SessionState::Exited { .. });
            if !exited && self.on_dashboard(chat, session) {
                self.dash_put(chat, session, dashboard::last_lines(&screen));
            } else {
                // Off the dashboard (or never on it): its own message shows the latest.
                self.dash_remove(chat, session);
                tx.send_if_modified(|cur| {
                    let changed = *cur != html;
                    *cur = html;
                    changed
                });
            }
            if let SessionState::Exited { .. } = info.state {
                self.notify(chat, session, &format!("⏹ {session} {label}"))
                    .await;
                return;
            }
            match seen {
                Seen::Nothing => {}
                Seen::WentQuiet { since } if self.turn_announced_since(session, since) => {
                    tracing::debug!(chat, session, "went quiet after announcing its turn's end");
                }
                Seen::WentQuiet { .. } => {
                    let text = format!("💤 {session} went quiet (finished its turn?)");
                    self.notify(chat, session, &text).await;
                }
                Seen::Idle => {
                    tracing::debug!(chat, session, "live screen: idle, stopping");
                    return;
                }
            }
            match follow.as_mut().filter(|f| f.generation().is_some()) {
                Some(f) => {
                    tokio::select! {
                        // Only for the activity's timers (went quiet, idle) and the state.
                        // By the activity's own deadline, so a quiet is seen when it
                        // comes, not merged into the next turn.
                        _ = tokio::time::sleep_until(
                            (Instant::now() + IDLE_LOOK).min(activity.next_deadline()),
                        ) => {}
                        _ = poke.notified() => poked = true,
                        _ = f.changed() => {}
                    }
                    // At most one read a poll, however fast the changes come.
                    if let Some((_, at)) = read_at {
                        tokio::time::sleep_until(at + cfg.poll).await;
                    }
                }
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(cfg.poll) => {}
                        _ = poke.notified() => poked = true,
                    }
                }
            }
        }
    }

    /// Shows `session` as lost (its last screen under a header saying so) and, unless the
    /// host brings it back within [`lost::REVIVAL_GRACE`], has the chat told. True when it
    /// stays lost (the watch ends); false when it runs again (revived at the host's start:
    /// the watch goes on, and the chat hears of it in the revival message only, not in a
    /// "lost" notice whose Revive button would then say it is running).
    async fn lost(
        &self,
        chat: i64,
        session: &str,
        last_screen: &str,
        tx: &watch::Sender<String>,
    ) -> bool {
        tracing::warn!(
            chat,
            session,
            "live screen: the session was lost with its host"
        );
        let header = format!(
            "<b>{}</b> · {}",
            escape_html(session),
            escape_html(lost::LOST_LABEL)
        );
        let header_len = utf16_len(session) + 3 + utf16_len(lost::LOST_LABEL);
        tx.send_replace(render_live(Some(&header), header_len, last_screen));
        let deadline = Instant::now() + lost::REVIVAL_GRACE;
        while Instant::now() < deadline {
            tokio::time::sleep(self.cfg.poll).await;
            if let Ok(Some(i)) = self.host.info(session).await {
                if i.state.is_live() {
                    tracing::info!(chat, session, "live screen: the session was revived");
                    return false;
                }
            }
        }
        self.lost.report(chat, session);
        true
    }

    async fn notify(&self, chat: i64, session: &str, text: &str) {
        // Only `/notify all` buzzes for exits and finished turns; other levels get them silently.
        let buzz = match self.store.notify_level(ChatId(chat)).await {
            Ok(Some(level)) => level == walkie_config::NotifyLevel::All,
            _ => self.cfg.buzz_by_default,
        };
        // Delivered (retried after transient failures): an exit or a finished turn is news.
        let sent = self
            .tg
            .send_card(chat, &escape_html(text), None, !buzz)
            .await;
        match sent {
            Ok(m) => {
                self.saw_message(chat);
                if let Err(e) = self
                    .store
                    .remember_message(
                        ChatId(chat),
                        MessageRef(i64::from(m.id.0)),
                        &SessionRef::address(session),
                    )
                    .await
                {
                    tracing::warn!(error = %e, "cannot remember a notification");
                }
            }
            Err(e) => tracing::warn!(chat, session, error = %e, "cannot send a notification"),
        }
    }

    /// What `session`'s live message in `chat` was last set to (none known: `None`).
    async fn shown(&self, chat: i64, session: &SessionRef) -> Option<String> {
        self.store
            .live_shown(ChatId(chat), session)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "live screen: store");
                None
            })
    }

    async fn set_shown(&self, chat: i64, session: &SessionRef, html: &str) {
        if let Err(e) = self.store.set_live_shown(ChatId(chat), session, html).await {
            tracing::warn!(error = %e, "live screen: store");
        }
    }

    /// Shows one rendered state: edits the live message, or posts a new one when there is
    /// none, it was deleted, or it has scrolled far up (then the old one is deleted).
    async fn show(&self, chat: i64, session: &str, html: &str) -> Outcome {
        // The channel's starting value, before the first screen is rendered: nothing to show
        // (Telegram refuses an empty message).
        if html.is_empty() {
            return Outcome::Done;
        }
        let session_ref = SessionRef::address(session);
        let existing = match self.store.live_message(ChatId(chat), &session_ref).await {
            Ok(m) => m.map(|m| m.0),
            Err(e) => {
                tracing::warn!(error = %e, "live screen: store");
                None
            }
        };
        let scrolled = existing.is_some() && self.scrolled(chat, session);
        if let (Some(id), false) = (existing, scrolled) {
            let Ok(id32) = i32::try_from(id) else {
                return Outcome::Failed;
            };
            // What it shows already (e.g. a screen resumed after a restart of the bot):
            // Telegram would refuse the edit with "message is not modified".
            if self.shown(chat, &session_ref).await.as_deref() == Some(html) {
                return Outcome::Done;
            }
            match self.tg.edit_html_once(chat, id32, html, None).await {
                Ok(()) => {
                    self.set_shown(chat, &session_ref, html).await;
                    return Outcome::Done;
                }
                Err(e) if e.is(&ApiError::MessageNotModified) => {
                    self.set_shown(chat, &session_ref, html).await;
                    return Outcome::Done;
                }
                Err(e) if e.retry_after.is_some() => {
                    return Outcome::RetryAfter(e.retry_after.unwrap_or_default())
                }
                Err(e) if e.is(&ApiError::MessageToEditNotFound) => {} // deleted: post anew
                Err(e) => {
                    tracing::warn!(chat, session, error = %e, "live screen: edit failed");
                    return Outcome::Failed;
                }
            }
        }
        // Silent: a screen update is not news; notifications are separate messages.
        match self.tg.send_html_once(chat, html, true).await {
            Ok(m) => {
                let new_id = i64::from(m.id.0);
                self.posted(chat, session);
                let (chat_ref, message) = (ChatId(chat), MessageRef(new_id));
                if let Err(e) = self
                    .store
                    .set_live_message_shown(chat_ref, &session_ref, message, html)
                    .await
                {
                    tracing::warn!(error = %e, "live screen: store");
                }
                if let Err(e) = self
                    .store
                    .remember_message(chat_ref, message, &session_ref)
                    .await
                {
                    tracing::warn!(error = %e, "live screen: store");
                }
                if let (Some(old), true) = (existing, scrolled) {
                    if let Ok(old) = i32::try_from(old) {
                        // Paced like everything else; failure only leaves a stale copy.
                        if let Err(e) = self.tg.delete(chat, old).await {
                            tracing::debug!(error = %e, "live screen: old message not deleted");
                        }
                    }
                }
                Outcome::Done
            }
            Err(e) if e.retry_after.is_some() => {
                Outcome::RetryAfter(e.retry_after.unwrap_or_default())
            }
            Err(e) => {
                tracing::warn!(chat, session, error = %e, "live screen: send failed");
                Outcome::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use teloxide::Bot;
    use walkie_console::testing::MemHost;

    use crate::pace::{PaceConfig, Pacer};

    const CHAT: i64 = 7;

    /// Live screens against an in-memory host; Telegram is never reached (the tests stay
    /// clear of notifications), and an address nobody listens on makes sure of it.
    async fn live(host: &MemHost, dir: &tempfile::TempDir) -> Arc<LiveScreens<MemHost>> {
        let api = "http://127.0.0.1:9/".parse().unwrap();
        let bot = Bot::new("0:test").set_api_url(api);
        let tg = Tg::new(bot, Arc::new(Pacer::new(PaceConfig::default())), "0:test");
        let store = Store::open_in(dir.path()).await.unwrap();
        let cfg = LiveConfig {
            poll: Duration::from_millis(10),
            ..LiveConfig::default()
        };
        LiveScreens::new(cfg, tg, Arc::new(host.clone()), store)
    }

    /// Waits (at most 10 s) until the published screen satisfies `ok`.
    async fn published(rx: &mut watch::Receiver<String>, ok: impl Fn(&str) -> bool) {
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|h| ok(h)))
            .await
            .expect("timed out")
            .expect("the watcher stopped");
    }

    #[tokio::test]
    async fn the_watcher_publishes_each_new_screen_and_stops_when_the_session_goes() {
        let dir = tempfile::tempdir().unwrap();
        let host = MemHost::default();
        host.add("api", SessionState::Running);
        host.with(|s| s.screens.insert("api".into(), "$ make\nbuilding".into()));
        let live = live(&host, &dir).await;
        let (tx, mut rx) = watch::channel(String::new());
        let poke = Arc::new(Notify::new());
        let watcher = {
            let (live, poke) = (live.clone(), poke.clone());
            tokio::spawn(async move { live.watch(CHAT, "api", &tx, &poke).await })
        };
        published(&mut rx, |h| {
            h.contains("<b>api</b> · running") && h.contains("building")
        })
        .await;
        host.with(|s| s.screens.insert("api".into(), "$ make\ndone <ok>".into()));
        poke.notify_one();
        published(&mut rx, |h| h.contains("done &lt;ok&gt;")).await;
        host.with(|s| s.sessions.clear());
        tokio::time::timeout(Duration::from_secs(10), watcher)
            .await
            .expect("the watcher did not stop")
            .unwrap();
    }

    #[tokio::test]
    async fn a_session_that_never_existed_stops_the_watcher_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let host = MemHost::default();
        let live = live(&host, &dir).await;
        let (tx, rx) = watch::channel(String::new());
        tokio::time::timeout(
            Duration::from_secs(10),
            live.watch(CHAT, "ghost", &tx, &Notify::new()),
        )
        .await
        .expect("the watcher did not stop");
        assert!(
            rx.borrow().is_empty(),
            "nothing is shown for a missing session"
        );
    }
}
