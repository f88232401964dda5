//! Agents' dialogs on the phone, and text held while an agent cannot take it.
//!
//! # Dialogs
//! A task ([`Desk::scan_dialogs`]) reads, a few times a second, the screens of the sessions
//! chats work with. A known dialog ([`walkie_approval::dialog`]: Claude's folder trust and
//! API key, Codex's folder trust and hook review, Copilot's folder trust) seen on two reads
//! in a row gets a card in those chats, one button per real choice. A press records the
//! choice; the same task then types its keys one at a time, each only after the session was
//! quiet for [`QUIET_MS`] (a freshly drawn dialog is drawn again with its default selected,
//! undoing an early key) and checked on the screen before the next; a key whose effect does
//! not show and whose screen stayed the same for [`KEY_WAIT`] is sent again, at most
//! [`KEY_TRIES`] times. The card then says who chose what. A dialog that leaves the screen
//! without a press was answered at the terminal.
//!
//! # Held text
//! Text for a session ([`Desk::hold_text`]) is held instead of typed while a known dialog is
//! on its screen, and, for an agent's session, until its input box has been seen ready once
//! (slow start). The sender is told; the task types it (at most one text per read, in order)
//! once the box is back and the session was quiet for [`QUIET_MS`], then sends a
//! confirmation. A session that ends first gets its held texts back in the chat.
//!
//! All of this is in memory: after a bot restart a dialog still on screen gets a new card,
//! and the old card's buttons answer "gone".

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use walkie_approval::card::{clock, cut, Block, Button, Card, Span};
use walkie_approval::dialog::{self, agent_of, input_ready, verified, Dialog, Verify};
use walkie_approval::model::{now_ms, ApprovalAction, ApprovalId};
use walkie_host_proto::protocol::SessionInfo;

use crate::changes::Looks;
use crate::desk::{notify_level, Desk, DeskError, Press};
use crate::front::{ChatId, Frontend, MessageRef, UserId};
use crate::gate::{Role, VIEWER_TEXT};
use crate::host::Host;
use crate::session::SessionRef;
use crate::store::{AuditAction, AuditEntry};
use walkie_config::NotifyLevel;

/// How often screens are read.
const SCAN_EVERY: Duration = Duration::from_millis(300);

/// With nothing held, no card up and every watched screen settled and pushed by the host,
/// a pass this often still notices sessions that ended.
const IDLE_SCAN: Duration = Duration::from_secs(5);

/// Output silence after which a freshly drawn dialog or input box takes keys (the host's
/// `idle_ms`; docs/AGENTS.md measured the redraw at about 0.2 s).
pub(crate) const QUIET_MS: u64 = 500;

/// Longest wait for a session to go quiet before a key.
const QUIET_WAIT: Duration = Duration::from_secs(20);

/// How long a key may take to show on screen before it counts as lost.
const KEY_WAIT: Duration = Duration::from_secs(10);

/// How many times one key is sent at most.
const KEY_TRIES: usize = 3;

/// Texts held per session at most; more are refused (the sender still has them).
const MAX_HELD: usize = 20;

/// Dialog cards, held texts and readiness, per session.
#[derive(Default)]
pub struct Dialogs {
    sessions: Mutex<HashMap<String, Slot>>,
}

#[derive(Default)]
struct Slot {
    /// The dialog of the last read: two reads in a row make a card.
    last: Option<Dialog>,
    card: Option<DialogCard>,
    held: VecDeque<Held>,
    /// The process (pid) whose input box was seen ready (quiet) at least once. Per process,
    /// not per name: a session revived after a host restart (or started again under the same
    /// name) is a new agent that has not drawn its box yet, and text typed into it before the
    /// box is back is lost or lands in its start-up screen.
    ready_seen: Option<Option<u32>>,
}

#[derive(Clone)]
struct DialogCard {
    id: ApprovalId,
    dialog: Dialog,
    /// Each chat's copy, and whether it has buttons.
    messages: Vec<(ChatId, MessageRef, bool)>,
    chosen: Option<Chosen>,
}

#[derive(Clone)]
struct Chosen {
    choice: usize,
    by: String,
    user: UserId,
    chat: ChatId,
    at_ms: u64,
    typed: bool,
}

#[derive(Clone)]
struct Held {
    chat: ChatId,
    user: UserId,
    text: String,
    source: String,
}

impl Dialogs {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Slot>) -> R) -> R {
        // A panic elsewhere while holding the lock leaves plain data; keep using it.
        let mut g = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    fn slot<R>(&self, session: &str, f: impl FnOnce(&mut Slot) -> R) -> R {
        self.with(|m| f(m.entry(session.to_string()).or_default()))
    }

    /// Sessions with something to look after besides the watched ones.
    fn busy(&self) -> Vec<String> {
        self.with(|m| {
            m.iter()
                .filter(|(_, s)| s.card.is_some() || !s.held.is_empty())
                .map(|(n, _)| n.clone())
                .collect()
        })
    }
}

/// Why a choice's keys did not take.
#[derive(Debug, thiserror::Error)]
enum KeysError {
    #[error("the session never went quiet")]
    NotQuiet,
    #[error("the screen did not show the key's effect")]
    NoEffect,
    #[error("the screen changed to something else")]
    Diverted,
    #[error("the session host did not answer ({0})")]
    Host(String),
}

fn strong(s: &str) -> Span {
    Span::Strong(s.to_string())
}

fn plain(s: impl Into<String>) -> Span {
    Span::Plain(s.into())
}

/// The lines saying which dialog of which session.
fn describe(session: &str, d: &Dialog) -> Vec<Block> {
    let mut lines = vec![Block::Line(vec![
        strong(session),
        plain(format!(
            " · {} asks: {}",
            d.kind.agent.label(),
            d.kind.title
        )),
    ])];
    if let Some(detail) = &d.detail {
        lines.push(Block::Line(vec![
            plain("📁 "),
            Span::Code(cut(detail, 300)),
        ]));
    }
    lines
}

/// A dialog waiting for an answer: one button per choice (none for viewers).
pub(crate) fn pending_card(session: &str, id: ApprovalId, d: &Dialog, buttons: bool) -> Card {
    let mut blocks = describe(session, d);
    if let Some(Block::Line(first)) = blocks.first_mut() {
        first.insert(0, plain("🚧 "));
    }
    blocks.push(Block::Line(vec![plain(
        "⏸ Text you send waits until this is answered.",
    )]));
    let buttons = if buttons {
        d.kind
            .choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                vec![Button {
                    label: c.label.to_string(),
                    id,
                    action: ApprovalAction::Choose(i as u8),
                }]
            })
            .collect()
    } else {
        Vec::new()
    };
    Card { blocks, buttons }
}

/// A dialog card without buttons, under a first line saying what happened.
fn closed_card(session: &str, d: &Dialog, outcome: String) -> Card {
    let mut blocks = vec![Block::Line(vec![plain(outcome)])];
    blocks.extend(describe(session, d));
    Card {
        blocks,
        buttons: Vec::new(),
    }
}

/// The held text as quoted on the phone.
fn quote(text: &str) -> String {
    format!("«{}»", cut(text, 200))
}

impl Dialogs {
    /// Text for `session` from the phone: `None` when it may be typed now, else it is held
    /// (typed later by the desk's scanner) and the answer for the sender is returned.
    pub async fn hold_text(
        &self,
        host: &impl Host,
        user: UserId,
        chat: ChatId,
        session: &str,
        text: &str,
        source: &str,
    ) -> Option<String> {
        let held = Held {
            chat,
            user,
            text: text.to_string(),
            source: source.to_string(),
        };
        // Behind texts already held, whatever the screen shows now: order is kept.
        let queued = self.slot(session, |s| {
            if s.held.is_empty() {
                return None;
            }
            Some(if s.held.len() >= MAX_HELD {
                Err(s.held.len())
            } else {
                s.held.push_back(held.clone());
                Ok(s.held.len())
            })
        });
        match queued {
            Some(Ok(n)) => return Some(format!("⏳ held for {session} ({n} waiting)")),
            Some(Err(n)) => {
                return Some(format!(
                    "⚠️ Not sent: {n} texts already wait for {session}; send it again once they are delivered."
                ))
            }
            None => {}
        }
        let info = host.info(session).await.ok().flatten()?;
        let screen = host.screen(session).await.ok()?;
        let why = self.why_hold(&info, &screen)?;
        self.slot(session, |s| s.held.push_back(held));
        Some(format!(
            "⏳ held until {session}'s input box is back ({why})"
        ))
    }

    /// Why text cannot be typed into this session now, if it cannot.
    fn why_hold(&self, info: &SessionInfo, screen: &str) -> Option<String> {
        if let Some(d) = dialog::detect(screen) {
            return Some(format!("{} asks: {}", d.kind.agent.label(), d.kind.title));
        }
        let agent = agent_of(&info.command)?;
        let ready = input_ready(agent, screen) && info.idle_ms.unwrap_or(0) >= QUIET_MS;
        let seen = self.slot(&info.name, |s| {
            if ready {
                s.ready_seen = Some(info.pid);
            }
            s.ready_seen == Some(info.pid)
        });
        (!seen).then(|| format!("{} has not drawn it yet", agent.label()))
    }
}

impl<F: Frontend, H: Host> Desk<F, H> {
    /// A press of a dialog card's button: recorded here, typed by the scanner.
    pub(crate) async fn on_dialog_press(&self, p: &Press, choice: u8) -> Result<(), DeskError> {
        if self.gate.role(p.user) != Role::Operator {
            self.audit_line(AuditEntry {
                user_id: Some(p.user),
                chat_id: Some(p.chat),
                action: AuditAction::Refused,
                source: Some("button".into()),
                text: Some(p.raw.clone()),
                detail: Some("not allowed to answer a dialog".into()),
                ..AuditEntry::default()
            })
            .await;
            self.front.answer_press(&p.press, Some(VIEWER_TEXT)).await?;
            return Ok(());
        }
        let choice = choice as usize;
        let taken = self.dialogs.with(|m| {
            let (session, slot) = m
                .iter_mut()
                .find(|(_, s)| s.card.as_ref().is_some_and(|c| c.id == p.id))?;
            let card = slot.card.as_mut()?;
            let label = card.dialog.kind.choices.get(choice)?.label;
            if let Some(c) = &card.chosen {
                let by = card.dialog.kind.choices[c.choice].label;
                return Some(Err(format!("Already chosen: {by} (by {})", c.by)));
            }
            card.chosen = Some(Chosen {
                choice,
                by: p.name.clone(),
                user: p.user,
                chat: p.chat,
                at_ms: now_ms(),
                typed: false,
            });
            Some(Ok((session.clone(), label, card.clone())))
        });
        match taken {
            None => {
                self.front
                    .answer_press(&p.press, Some("This dialog is gone."))
                    .await?;
            }
            Some(Err(toast)) => self.front.answer_press(&p.press, Some(&toast)).await?,
            Some(Ok((session, label, card))) => {
                self.front
                    .answer_press(&p.press, Some(&format!("Choosing: {label}")))
                    .await?;
                let shown = closed_card(&session, &card.dialog, format!("⌛ {label}: typing…"));
                self.edit_dialog_cards(&card, &shown).await;
            }
        }
        Ok(())
    }

    async fn audit_line(&self, entry: AuditEntry) {
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    async fn edit_dialog_cards(&self, card: &DialogCard, shown: &Card) {
        for (chat, message, _) in &card.messages {
            if let Err(e) = self.front.edit_card(*chat, *message, shown).await {
                tracing::warn!(chat = chat.0, error = %e, "cannot update a dialog card");
            }
        }
    }

    /// Reads the screens of watched sessions (and of those with cards or held texts) until
    /// `shutdown`.
    pub(crate) async fn scan_dialogs(&self, shutdown: CancellationToken) {
        // Watched screens the host pushes changes of are read only after a change (twice,
        // to settle); sessions with a card or held text, and the others, on every pass.
        let changes = self.host.changes().cloned();
        let mut any = changes.as_ref().map(|c| c.any());
        let mut looks = Looks::default();
        let mut first = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SCAN_EVERY) => {}
            }
            let busy = self.dialogs.busy();
            if let Some(any) = any
                .as_mut()
                .filter(|_| busy.is_empty() && !looks.settling() && !first)
            {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = any.changed() => {}
                    _ = tokio::time::sleep(IDLE_SCAN) => {}
                }
            }
            first = false;
            if let Some(any) = any.as_mut() {
                any.borrow_and_update();
            }
            let mut sessions = match self.store.watched_sessions().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read watched sessions");
                    continue;
                }
            };
            looks.follow_only(changes.as_ref(), &sessions);
            // Read now, whatever the pushes say: what the desk waits on.
            let busy = self.dialogs.busy();
            for s in &busy {
                if !sessions.contains(s) {
                    sessions.push(s.clone());
                }
            }
            let Ok(list) = self.host.list().await else {
                continue;
            };
            self.dialogs.with(|m| m.retain(|s, _| sessions.contains(s)));
            for session in sessions {
                let info = list
                    .iter()
                    .find(|i| i.name == session && i.state.is_live())
                    .cloned();
                match info {
                    Some(info) => {
                        // `due` first: it counts this look.
                        if looks.due(&session) || busy.contains(&session) {
                            self.scan_session(&info).await
                        }
                    }
                    None => {
                        looks.again(&session);
                        self.session_gone(&session).await
                    }
                }
            }
        }
    }

    /// The session ended: its held texts go back to their chats, its card says so.
    async fn session_gone(&self, session: &str) {
        let Some(slot) = self.dialogs.with(|m| m.remove(session)) else {
            return;
        };
        for h in slot.held {
            let text = format!("ended; not delivered: {}", quote(&h.text));
            if let Err(e) = self.front.notice(h.chat, session, &text, false).await {
                tracing::warn!(chat = h.chat.0, error = %e, "cannot return a held text");
            }
        }
        if let Some(card) = slot
            .card
            .filter(|c| c.chosen.as_ref().is_none_or(|c| !c.typed))
        {
            let shown = closed_card(session, &card.dialog, "⏹ The session ended.".into());
            self.edit_dialog_cards(&card, &shown).await;
        }
    }

    async fn scan_session(&self, info: &SessionInfo) {
        let session = info.name.as_str();
        let Ok(screen) = self.host.screen(session).await else {
            return;
        };
        let now = dialog::detect(&screen);
        let card = self.dialogs.slot(session, |s| s.card.clone());
        if let Some(card) = card {
            if let Some(c) = card.chosen.as_ref().filter(|c| !c.typed) {
                self.type_choice(session, &card, c.clone()).await;
                return;
            }
            if now.as_ref() != Some(&card.dialog) {
                self.dialogs.slot(session, |s| s.card = None);
                if card.chosen.is_none() {
                    let shown = closed_card(
                        session,
                        &card.dialog,
                        format!("⌨️ Answered at the terminal at {}", clock(now_ms())),
                    );
                    self.edit_dialog_cards(&card, &shown).await;
                }
            }
        }
        let settled = self.dialogs.slot(session, |s| {
            let settled = now.is_some() && s.last == now && s.card.is_none();
            s.last = now.clone();
            settled
        });
        if let Some(d) = now.filter(|_| settled) {
            self.post_dialog_card(session, d).await;
            return;
        }
        // The box must be on screen for held text, not only have been once.
        let ready = agent_of(&info.command).is_none_or(|a| input_ready(a, &screen));
        if ready && self.dialogs.why_hold(info, &screen).is_none() {
            self.deliver_held(info, &screen).await;
        }
    }

    async fn post_dialog_card(&self, session: &str, d: Dialog) {
        let id = crate::desk::screen_id();
        // The card is known before its first copy is posted: a press made as soon as a copy
        // shows (while the others are still being posted) must find it, not "gone".
        self.dialogs.slot(session, |s| {
            s.card = Some(DialogCard {
                id,
                dialog: d.clone(),
                messages: Vec::new(),
                chosen: None,
            })
        });
        for (chat, buttons) in self.targets(session).await {
            let silent = notify_level(&self.store, &self.cfg, chat).await == NotifyLevel::None;
            match self
                .front
                .post_card(chat, &pending_card(session, id, &d, buttons), silent)
                .await
            {
                Ok(m) => {
                    self.dialogs.slot(session, |s| {
                        if let Some(card) = s.card.as_mut().filter(|c| c.id == id) {
                            card.messages.push((chat, m, buttons));
                        }
                    });
                    // Replying to the card goes to the session, like its other messages.
                    let _ = self
                        .store
                        .remember_message(chat, m, &SessionRef::address(session))
                        .await;
                }
                Err(e) => tracing::warn!(chat = chat.0, error = %e, "cannot post a dialog card"),
            }
        }
        tracing::info!(session, dialog = d.kind.id, "dialog card posted");
    }

    /// Types the chosen answer's keys, each checked on the screen, and shows the result.
    async fn type_choice(&self, session: &str, card: &DialogCard, chosen: Chosen) {
        let kind = card.dialog.kind;
        let choice = kind.choices[chosen.choice];
        let mut result = Ok(());
        for step in choice.steps {
            result = self
                .type_step(session, kind, step.key.bytes(), step.verify)
                .await;
            if result.is_err() {
                break;
            }
        }
        let (shown, typed) = match &result {
            Ok(()) => (
                closed_card(
                    session,
                    &card.dialog,
                    format!(
                        "✅ {} (by {} at {})",
                        choice.label,
                        chosen.by,
                        clock(chosen.at_ms)
                    ),
                ),
                true,
            ),
            Err(e) => {
                let mut c = pending_card(session, card.id, &card.dialog, true);
                c.blocks.insert(
                    0,
                    Block::Line(vec![plain(format!(
                        "⚠️ {} did not take: {e}. Try again, or /keys.",
                        choice.label
                    ))]),
                );
                (c, false)
            }
        };
        self.dialogs.slot(session, |s| {
            if let Some(c) = s.card.as_mut().filter(|c| c.id == card.id) {
                if typed {
                    if let Some(ch) = c.chosen.as_mut() {
                        ch.typed = true;
                    }
                } else {
                    c.chosen = None;
                }
            }
        });
        self.audit_line(AuditEntry {
            user_id: Some(chosen.user),
            chat_id: Some(chosen.chat),
            session: Some(SessionRef::address(session)),
            action: AuditAction::Approval,
            source: Some("dialog".into()),
            text: Some(kind.title.into()),
            detail: Some(match &result {
                Ok(()) => format!("{}: {} by {}", kind.id, choice.label, chosen.by),
                Err(e) => format!("{}: {} by {} failed: {e}", kind.id, choice.label, chosen.by),
            }),
        })
        .await;
        for (chat, message, buttons) in &card.messages {
            let mut c = shown.clone();
            if !buttons {
                c.buttons.clear();
            }
            if let Err(e) = self.front.edit_card(*chat, *message, &c).await {
                tracing::warn!(chat = chat.0, error = %e, "cannot update a dialog card");
            }
        }
    }

    /// Waits until the session printed nothing for [`QUIET_MS`].
    async fn wait_quiet(&self, session: &str) -> Result<(), KeysError> {
        let deadline = Instant::now() + QUIET_WAIT;
        loop {
            let info = self
                .host
                .info(session)
                .await
                .map_err(|e| KeysError::Host(e.to_string()))?;
            if info.and_then(|i| i.idle_ms).unwrap_or(0) >= QUIET_MS {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(KeysError::NotQuiet);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screen_now(&self, session: &str) -> Result<String, KeysError> {
        self.host
            .screen(session)
            .await
            .map_err(|e| KeysError::Host(e.to_string()))
    }

    /// One key, sent once the session is quiet, until `verify` holds: skipped when it holds
    /// already, sent again only when the screen stayed the same (the key was lost, not slow).
    async fn type_step(
        &self,
        session: &str,
        kind: &dialog::DialogKind,
        key: Vec<u8>,
        verify: Verify,
    ) -> Result<(), KeysError> {
        for _ in 0..KEY_TRIES {
            self.wait_quiet(session).await?;
            let before = self.screen_now(session).await?;
            if verified(kind, verify, &before) {
                return Ok(());
            }
            if !kind.on(&before) {
                return Err(KeysError::Diverted);
            }
            self.host
                .input(session, vec![key.clone()])
                .await
                .map_err(|e| KeysError::Host(e.to_string()))?;
            let deadline = Instant::now() + KEY_WAIT;
            let mut changed = false;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = self.screen_now(session).await?;
                if verified(kind, verify, &now) {
                    return Ok(());
                }
                changed |= now != before;
            }
            if changed {
                // Something happened, just not what the key should do: sending it again
                // could undo it.
                return Err(KeysError::NoEffect);
            }
        }
        Err(KeysError::NoEffect)
    }

    /// Types the oldest held text of a session whose box is ready, once it is quiet, then
    /// Enter, and confirms it to the sender.
    async fn deliver_held(&self, info: &SessionInfo, screen: &str) {
        let session = info.name.as_str();
        let Some(h) = self.dialogs.slot(session, |s| s.held.front().cloned()) else {
            return;
        };
        if info.idle_ms.unwrap_or(0) < QUIET_MS {
            return;
        }
        if let Err(e) = self
            .host
            .input(session, vec![h.text.as_bytes().to_vec()])
            .await
        {
            tracing::warn!(session, error = %e, "held text not typed");
            return;
        }
        // The text must show before Enter; unchanged for the whole wait, it was lost and is
        // typed again on a later read.
        let deadline = Instant::now() + KEY_WAIT;
        let mut shown = false;
        while !shown && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            shown = self.host.screen(session).await.is_ok_and(|s| s != screen);
        }
        if !shown {
            tracing::warn!(session, "held text did not show; typing it again later");
            return;
        }
        if let Err(e) = self.host.input(session, vec![b"\r".to_vec()]).await {
            tracing::warn!(session, error = %e, "Enter after a held text not typed");
        }
        self.dialogs.slot(session, |s| s.held.pop_front());
        self.audit_line(AuditEntry {
            user_id: Some(h.user),
            chat_id: Some(h.chat),
            session: Some(SessionRef::address(session)),
            action: AuditAction::Dispatch,
            source: Some(h.source.clone()),
            text: Some(h.text.clone()),
            detail: Some("held until the input box was ready".into()),
        })
        .await;
        tracing::info!(session, "held text delivered");
        // A confirmation, like a finished turn: it buzzes only under /notify all.
        let silent = notify_level(&self.store, &self.cfg, h.chat).await != NotifyLevel::All;
        let text = format!("got your held text: {}", quote(&h.text));
        if let Err(e) = self.front.notice(h.chat, session, &text, silent).await {
            tracing::warn!(chat = h.chat.0, error = %e, "cannot confirm a held text");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::front::PressRef;
    use crate::gate::Gate;
    use crate::store::Store;
    use crate::testing::{session, InMemory, MemHost, Sent};
    use walkie_config::Config;
    use walkie_host_proto::protocol::SessionState;

    const OPERATOR: i64 = 1;
    const VIEWER: i64 = 2;
    const CHAT: ChatId = ChatId(-5);
    const CC: &str = "cc";

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../tests/fixtures/agents/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    fn trust() -> String {
        fixture("claude-folder-trust.txt")
    }

    /// The trust dialog with Yes selected, as Claude draws it after Down.
    fn trust_on_yes() -> String {
        trust()
            .replace("❯ No, exit", "  No, exit")
            .replace("  Yes, I trust this folder", "❯ Yes, I trust this folder")
    }

    struct Rig {
        desk: Desk<InMemory, MemHost>,
        front: InMemory,
        host: MemHost,
        _dir: tempfile::TempDir,
    }

    async fn rig(command: &str, screen: String) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        store
            .set_current_session(CHAT, Some(&SessionRef::local(CC)))
            .await
            .unwrap();
        let cfg = Config::from_toml(&format!(
            "[telegram]\nallowed_users = [{OPERATOR}]\nviewers = [{VIEWER}]\n"
        ))
        .unwrap();
        let host = MemHost::default();
        host.with(|s| {
            s.sessions.push(SessionInfo {
                command: vec![command.into(), "--settings".into()],
                idle_ms: Some(QUIET_MS * 2),
                ..session(CC, SessionState::Running)
            });
            s.screens.insert(CC.into(), screen);
        });
        let front = InMemory::default();
        let desk = Desk {
            gate: Gate::from_config(&cfg.telegram),
            cfg,
            store,
            host: Arc::new(host.clone()),
            front: front.clone(),
            dialogs: Arc::default(),
        };
        Rig {
            desk,
            front,
            host,
            _dir: dir,
        }
    }

    impl Rig {
        async fn scan(&self) {
            let info = self.host.with(|s| s.sessions[0].clone());
            self.desk.scan_session(&info).await;
        }

        fn set_screen(&self, screen: String) {
            self.host.with(|s| s.screens.insert(CC.into(), screen));
        }

        fn typed(&self) -> Vec<Vec<u8>> {
            self.host
                .with(|s| s.typed.iter().flat_map(|(_, c)| c.clone()).collect())
        }

        /// Claude's trust dialog as a program: Down selects Yes, Enter there shows the box,
        /// Escape exits; typed text shows in the box.
        fn claude(&self) {
            self.host.with(|s| {
                s.react = Some(Arc::new(|screens, name, bytes| {
                    let Some(screen) = screens.get_mut(name) else {
                        return;
                    };
                    let on_yes = screen.contains("❯ Yes, I trust this folder");
                    match bytes {
                        b"\x1b[B" => *screen = trust_on_yes(),
                        b"\r" if on_yes => *screen = fixture("claude-ready.txt"),
                        b"\r" => {}
                        text => screen.push_str(&String::from_utf8_lossy(text)),
                    }
                }))
            });
        }

        async fn hold(&self, text: &str) -> Option<String> {
            self.desk
                .dialogs
                .hold_text(&*self.desk.host, UserId(OPERATOR), CHAT, CC, text, "text")
                .await
        }

        fn press(&self, user: i64, id: ApprovalId, n: u8) -> Press {
            Press {
                chat: CHAT,
                user: UserId(user),
                name: "ana".into(),
                press: PressRef(format!("q{user}{n}")),
                id,
                action: ApprovalAction::Choose(n),
                raw: format!("ap:x:c{n}"),
            }
        }

        /// The dialog cards posted so far: id of the approval, text and button count.
        fn cards(&self) -> Vec<(MessageRef, String, usize)> {
            self.front
                .sent()
                .into_iter()
                .filter_map(|s| match s {
                    Sent::Card {
                        message,
                        text,
                        buttons,
                        ..
                    } => Some((message, text, buttons)),
                    _ => None,
                })
                .collect()
        }

        fn last_edit(&self) -> Option<(String, usize)> {
            self.front.sent().into_iter().rev().find_map(|s| match s {
                Sent::Edit { text, buttons, .. } => Some((text, buttons)),
                _ => None,
            })
        }

        fn card_id(&self) -> ApprovalId {
            self.desk
                .dialogs
                .slot(CC, |s| s.card.as_ref().map(|c| c.id))
                .expect("a dialog card")
        }
    }

    #[tokio::test]
    async fn a_dialog_seen_twice_becomes_a_card_with_its_real_choices() {
        let r = rig("claude", trust()).await;
        r.scan().await;
        assert!(r.cards().is_empty(), "one read is not enough");
        r.scan().await;
        let cards = r.cards();
        assert_eq!(cards.len(), 1);
        let (_, text, buttons) = &cards[0];
        assert!(
            text.contains("cc · Claude Code asks: Trust this folder?"),
            "{text}"
        );
        assert!(text.contains("/var/tmp/agx/c1/repo"), "{text}");
        assert_eq!(*buttons, 2);
        let card = pending_card(CC, r.card_id(), &dialog::detect(&trust()).unwrap(), true);
        let labels: Vec<&str> = card
            .buttons
            .iter()
            .flatten()
            .map(|b| b.label.as_str())
            .collect();
        assert_eq!(labels, ["Yes, I trust this folder", "No, exit"]);
        r.scan().await;
        assert_eq!(r.cards().len(), 1, "one card per dialog");
        assert!(r.typed().is_empty());
    }

    #[tokio::test]
    async fn a_press_types_the_choice_key_by_key_and_the_card_says_who_chose() {
        let r = rig("claude", trust()).await;
        r.claude();
        r.scan().await;
        r.scan().await;
        let id = r.card_id();
        // A viewer may not answer.
        r.desk.on_press(&r.press(VIEWER, id, 0)).await.unwrap();
        assert!(r.front.sent().contains(&Sent::Toast {
            press: PressRef(format!("q{VIEWER}0")),
            text: Some(VIEWER_TEXT.into())
        }));
        r.desk.on_press(&r.press(OPERATOR, id, 0)).await.unwrap();
        let (text, buttons) = r.last_edit().unwrap();
        assert!(
            text.starts_with("⌛ Yes, I trust this folder: typing…\ncc · Claude Code asks"),
            "{text}"
        );
        assert_eq!(buttons, 0);
        // A second press while typing decides nothing more.
        r.desk.on_press(&r.press(OPERATOR, id, 1)).await.unwrap();
        assert!(r.front.sent().iter().any(|s| matches!(s,
            Sent::Toast { text: Some(t), .. } if t.starts_with("Already chosen: Yes"))));
        assert!(r.typed().is_empty(), "typed by the scanner, not the press");
        r.scan().await;
        assert_eq!(r.typed(), [b"\x1b[B".to_vec(), b"\r".to_vec()]);
        let (text, buttons) = r.last_edit().unwrap();
        assert!(
            text.starts_with("✅ Yes, I trust this folder (by ana at "),
            "{text}"
        );
        assert_eq!(buttons, 0);
        // The dialog is gone: no "answered at the terminal" on top.
        r.scan().await;
        assert_eq!(r.last_edit().unwrap().0, text);
        // A press on the old card.
        r.desk.on_press(&r.press(OPERATOR, id, 0)).await.unwrap();
        assert!(r.front.sent().contains(&Sent::Toast {
            press: PressRef(format!("q{OPERATOR}0")),
            text: Some("This dialog is gone.".into())
        }));
    }

    #[tokio::test]
    async fn a_selection_already_shown_is_not_moved_again() {
        let r = rig("claude", trust_on_yes()).await;
        r.claude();
        r.scan().await;
        r.scan().await;
        r.desk
            .on_press(&r.press(OPERATOR, r.card_id(), 0))
            .await
            .unwrap();
        r.scan().await;
        // Down would wrap back to No.
        assert_eq!(r.typed(), [b"\r".to_vec()]);
    }

    #[tokio::test]
    async fn a_dialog_answered_at_the_terminal_closes_its_card() {
        let r = rig("claude", trust()).await;
        r.scan().await;
        r.scan().await;
        r.set_screen(fixture("claude-ready.txt"));
        r.scan().await;
        let (text, buttons) = r.last_edit().unwrap();
        assert!(
            text.starts_with("⌨️ Answered at the terminal at "),
            "{text}"
        );
        assert_eq!(buttons, 0);
        assert!(r.typed().is_empty());
    }

    #[tokio::test]
    async fn text_is_held_while_a_dialog_is_up_and_typed_once_the_box_is_back() {
        let r = rig("claude", trust()).await;
        r.claude();
        assert_eq!(
            r.hold("hello there").await.as_deref(),
            Some("⏳ held until cc's input box is back (Claude Code asks: Trust this folder?)")
        );
        assert_eq!(
            r.hold("and more").await.as_deref(),
            Some("⏳ held for cc (2 waiting)")
        );
        r.scan().await;
        r.scan().await;
        assert!(r.typed().is_empty(), "nothing typed into the dialog");
        r.set_screen(fixture("claude-ready.txt"));
        r.scan().await;
        assert_eq!(r.typed(), [b"hello there".to_vec(), b"\r".to_vec()]);
        assert!(r.front.sent().contains(&Sent::Notice {
            chat: CHAT,
            session: CC.into(),
            text: "got your held text: «hello there»".into(),
            silent: r.desk.cfg.notify.level() != NotifyLevel::All,
        }));
        // The next one waits for the box again (the test's screen still shows it).
        r.scan().await;
        assert_eq!(r.typed().len(), 4);
        assert_eq!(r.typed()[2], b"and more".to_vec());
        let audit = r.desk.store.audit_tail(10).await.unwrap();
        assert!(audit
            .iter()
            .any(|a| a.text.as_deref() == Some("hello there")
                && a.detail.as_deref() == Some("held until the input box was ready")));
        // Held texts done: new text goes straight through.
        assert_eq!(r.hold("now").await, None);
    }

    #[tokio::test]
    async fn an_agent_that_has_not_drawn_its_box_holds_text_a_shell_does_not() {
        let r = rig("claude", "".into()).await;
        assert_eq!(
            r.hold("early").await.as_deref(),
            Some("⏳ held until cc's input box is back (Claude Code has not drawn it yet)")
        );
        let shell = rig("bash", "".into()).await;
        assert_eq!(shell.hold("ls").await, None);
        // A box drawn a moment ago is not ready yet: it may be drawn again.
        let fresh = rig("claude", fixture("claude-ready.txt")).await;
        fresh.host.with(|s| s.sessions[0].idle_ms = Some(100));
        assert!(fresh.hold("hi").await.is_some());
        let ready = rig("claude", fixture("claude-ready.txt")).await;
        assert_eq!(ready.hold("hi").await, None);
        // Seen ready once, a turn in progress (no box) takes text as before.
        ready.set_screen("✻ Working… (esc to interrupt)".into());
        assert_eq!(ready.hold("also").await, None);
        // Revived after a host restart: a new process under the same name, which has not
        // drawn its box yet, holds text again until it does.
        ready.host.with(|s| s.sessions[0].pid = Some(4242));
        assert_eq!(
            ready.hold("after").await.as_deref(),
            Some("⏳ held until cc's input box is back (Claude Code has not drawn it yet)")
        );
    }

    #[tokio::test]
    async fn held_texts_of_an_ended_session_come_back() {
        let r = rig("claude", trust()).await;
        assert!(r.hold("lost?").await.is_some());
        r.desk.session_gone(CC).await;
        assert!(r.front.sent().contains(&Sent::Notice {
            chat: CHAT,
            session: CC.into(),
            text: "ended; not delivered: «lost?»".into(),
            silent: false,
        }));
    }

    #[tokio::test]
    async fn held_texts_are_bounded() {
        let r = rig("claude", trust()).await;
        for i in 0..MAX_HELD {
            assert!(r.hold(&format!("t{i}")).await.is_some());
        }
        let refused = r.hold("one too many").await.unwrap();
        assert!(
            refused.starts_with("⚠️ Not sent: 20 texts already wait for cc"),
            "{refused}"
        );
        assert_eq!(r.desk.dialogs.slot(CC, |s| s.held.len()), MAX_HELD);
    }
}
