//! The approval desk: the host's pending asks become cards in the chats, and a press of
//! Approve / Approve for this session / Deny decides them. It talks to the chat service only
//! through [`Frontend`] and to the session host only through [`Host`], so it is tested
//! against both in memory.
//!
//! # Flow
//! - A task ([`Desk::spawn`]) watches the host's asks ([`Host::watch_asks`]),
//!   reconnecting with backoff when the host goes away. For each new ask it applies the
//!   policy ([`walkie_approval::policy`]: config rules, then "approved for this session"):
//!   a rule decides at once, with a silent note in the chats and an audit line; otherwise a
//!   card is posted as a new message (so the phone buzzes) to every chat that works with
//!   the session, else to every operator's and viewer's private chat ([`card_targets`]).
//!   Viewers' copies have no buttons.
//! - A press ([`Desk::on_press`], decoded by the front end) is checked (operators only),
//!   recorded in SQLite only if the approval is still pending, then sent to the host with
//!   [`Host::decide`]. The host's first decision wins: a late one (`AlreadyDecided`) is
//!   answered "already decided". Every card of the approval is then edited to the outcome,
//!   who decided and when, without buttons.
//! - When the host closes an ask without a decision (the deadline passed, or the asker
//!   went away: for an agent's hook that means someone answered at the terminal), the
//!   cards are edited to say so.
//! - Screen prompts: a second task reads, every second, the screens of the sessions some
//!   chat works with and runs [`walkie_approval::detect`] on them. A prompt seen on two
//!   reads in a row gets a card (unless an agent's hook already asked about the same
//!   request); its buttons type the prompt's approve or deny keys with [`Host::input`];
//!   when the prompt leaves the screen without a press, the card says "answered at the
//!   terminal"; past the deadline the deny keys are typed. These approvals are the desk's
//!   own (ids with bit 62 set, never a host ask id).
//! - Approvals and their cards live in SQLite ([`crate::approval_store`]), so the buttons
//!   keep working after a bot restart: the host announces pending asks again to every new
//!   watcher. On (re)connecting, approvals of a host process that is gone (the host
//!   restarted; its blocked hooks answered deny) and approvals past their deadline are
//!   closed and their cards edited.
//!
//! # Agents' hooks
//! Sessions started with `/new NAME claude` get `--settings` with walkie's
//! `PermissionRequest` hook ([`crate::presets`]), which adds to the user's settings for that
//! run without touching them. Codex reads hooks only from `hooks.json` in its home
//! directory (`CODEX_HOME`), so it cannot be given the hook without writing a file the user
//! owns (or replacing the home, which holds the login); for Codex, add the hook by hand as
//! described in [`walkie_approval::hook`]. Without it, Codex's prompts are answered at the
//! terminal (or with `/keys`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use walkie_approval::card;
use walkie_approval::detect::{detect_text, input_chunks, Prompt, ScreenText};
use walkie_approval::hook::Decision;
use walkie_approval::model::{
    now_ms, Answer, Approval, ApprovalAction, ApprovalId, Decided, Decider, Millis, Outcome, State,
    Subject,
};
use walkie_approval::policy::{evaluate, PolicyRules, SessionApprovals, SessionRule, Verdict};
use walkie_config::{Config, NotifyLevel};
use walkie_host_proto::ask::AskPayload;
use walkie_host_proto::client::{AskEvent, ClientError};
use walkie_host_proto::protocol::{ErrorKind, PendingAsk};

use crate::front::{card_targets, ChatId, FrontError, Frontend, PressRef, UserId};
use crate::gate::{Gate, Role, VIEWER_TEXT};
use crate::host::{AskStream, Host};
use crate::session::SessionRef;
use crate::store::{AuditAction, AuditEntry, Store, StoreError};

mod posting;

/// Longest wait between two attempts to reach the host.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A close this near the deadline is the host's timeout, not the asker leaving (the two
/// clocks are the same machine's, but the close takes a moment to arrive).
const DEADLINE_SLACK_MS: Millis = 1_000;

/// How often the screens of the sessions chats work with are read for prompts.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// A prompt still on screen this long after its card was decided is the same prompt on its
/// way out (the keys are being typed), not a new one.
const ANSWER_GRACE_MS: Millis = 5_000;

/// Screen approvals are the bot's own, not the host's: their ids have this bit set, so they
/// never meet a host ask id (those count from the host's start time in microseconds).
const SCREEN_ID_BIT: u64 = 1 << 62;

/// A new, never reused id for a screen approval: the clock in microseconds, kept strictly
/// increasing.
pub(crate) fn screen_id() -> ApprovalId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now_ms().saturating_mul(1000);
    let prev = LAST.fetch_max(now, Ordering::SeqCst);
    let id = if prev >= now {
        LAST.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        now
    };
    ApprovalId(SCREEN_ID_BIT | (id & (SCREEN_ID_BIT - 1)))
}

/// The tool name screen prompts are judged as by the policy: they ask about shell commands.
const SCREEN_TOOL: &str = "Bash";

/// The approval desk: the watcher tasks and the press handler share it.
pub struct Desk<F, H> {
    pub cfg: Config,
    pub store: Store,
    pub gate: Gate,
    pub host: Arc<H>,
    pub front: F,
    /// Agents' dialog cards and text held while a session cannot take it
    /// ([`crate::dialogs`]).
    pub dialogs: Arc<crate::dialogs::Dialogs>,
}

/// A press of an approval card's button, as the front end decoded it.
#[derive(Debug, Clone)]
pub struct Press {
    pub chat: ChatId,
    pub user: UserId,
    /// How the person is shown on decided cards.
    pub name: String,
    /// Answered with a toast.
    pub press: PressRef,
    pub id: ApprovalId,
    pub action: ApprovalAction,
    /// What the button carried, for the audit log of a refused press.
    pub raw: String,
}

/// A press the desk could not finish.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("front end: {0}")]
    Front(#[from] FrontError),
}

/// The chat's notification level: its own choice (`/notify`), else the config's default.
pub async fn notify_level(store: &Store, cfg: &Config, chat: ChatId) -> NotifyLevel {
    match store.notify_level(chat).await {
        Ok(Some(l)) => l,
        Ok(None) => cfg.notify.level(),
        Err(e) => {
            tracing::warn!(chat = chat.0, error = %e, "cannot read the notification level");
            cfg.notify.level()
        }
    }
}

/// Tasks in order per key (an approval's id; `None` for notices), concurrent across keys;
/// aborted when the watch ends (shutdown).
#[derive(Default)]
struct Lanes(HashMap<Option<u64>, JoinHandle<()>>);

impl Lanes {
    /// Runs `task` after the ones already queued under `key`.
    fn then(&mut self, key: Option<u64>, task: impl Future<Output = ()> + Send + 'static) {
        self.0.retain(|_, h| !h.is_finished());
        let before = self.0.remove(&key);
        let next = tokio::spawn(async move {
            if let Some(b) = before {
                let _ = b.await;
            }
            task.await
        });
        self.0.insert(key, next);
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for h in self.0.values() {
            h.abort();
        }
    }
}

/// The session's name and creation time, as far as the host knows them.
struct SessionKey {
    created_ms: u64,
    program: Option<String>,
}

/// What the asker gets for a decision: the hook's decision (also what `walkie ask` reads).
fn decision_value(a: &Approval, d: &Decided) -> Decision {
    d.decision_for(&a.subject)
}

/// One line for the audit log: what was asked.
fn subject_text(s: &Subject) -> String {
    match s {
        Subject::Hook { request } => request.summary(),
        Subject::Screen { prompt } => prompt.question.clone(),
        Subject::Ask { question } => question.clone(),
        Subject::Network { host, port, .. } => format!("reach {host}:{port}"),
    }
}

fn subject_of(payload: &AskPayload) -> Option<Subject> {
    match payload.clone() {
        AskPayload::Hook { request } => Some(Subject::Hook { request }),
        AskPayload::Question { question, .. } => Some(Subject::Ask { question }),
        AskPayload::Network {
            host,
            port,
            profile,
            ..
        } => Some(Subject::Network {
            host,
            port,
            profile,
        }),
    }
}

/// The press's answer after "Always": which file keeps the domain. The host of the session
/// writes its own walkie.toml; for this machine's host that is the file this bot read.
fn always_toast(cfg: &Config, a: &Approval) -> String {
    let Subject::Network { host, profile, .. } = &a.subject else {
        return "Approved".into();
    };
    let at = SessionRef::address(&a.session);
    let file = if at.host != crate::session::LOCAL_HOST {
        format!("walkie.toml on {}", at.host)
    } else {
        match &cfg.file {
            Some(f) => f.display().to_string(),
            None => "walkie.toml".into(),
        }
    };
    card::cut(
        &format!("Always: {host} added to sandbox profile {profile} in {file}"),
        190,
    )
}

impl<F: Frontend, H: Host> Desk<F, H> {
    async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    async fn audit_decision(
        &self,
        a: &Approval,
        user: Option<UserId>,
        chat: Option<ChatId>,
        source: &str,
    ) {
        let Some(d) = a.decided() else { return };
        self.audit(AuditEntry {
            user_id: user,
            chat_id: chat,
            session: Some(SessionRef::address(&a.session)),
            action: AuditAction::Approval,
            source: Some(source.into()),
            text: Some(subject_text(&a.subject)),
            detail: Some(format!(
                "ask {}: {:?} by {}",
                a.id.0,
                d.outcome,
                d.by.describe()
            )),
        })
        .await;
    }

    /// Starts the host watcher and the screen scanner; they run until `shutdown`.
    pub fn spawn(self: Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            tokio::join!(
                self.watch(shutdown.clone()),
                self.scan_screens(shutdown.clone()),
                self.scan_dialogs(shutdown.clone())
            );
        })
    }

    async fn watch(self: &Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        // Each approval's events are handled in order in a lane of its own, so that one
        // card being retried never holds up another approval (or the notices' lane).
        let mut lanes = Lanes::default();
        loop {
            match self.host.watch_asks().await {
                Ok((pid, mut w)) => {
                    backoff = Duration::from_millis(200);
                    tracing::info!(host_pid = pid, "watching approval requests");
                    self.resync(pid).await;
                    loop {
                        let ev = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            ev = w.next_ask() => ev,
                        };
                        let this = self.clone();
                        match ev {
                            Some(Ok(AskEvent::Asked(ask))) => lanes
                                .then(Some(ask.id), async move { this.on_asked(ask, pid).await }),
                            Some(Ok(AskEvent::Closed { id, decision })) => lanes
                                .then(Some(id), async move {
                                    this.on_closed(ApprovalId(id), decision).await
                                }),
                            Some(Ok(AskEvent::Notice { session, text, .. })) => lanes
                                .then(None, async move { this.on_notice(&session, &text).await }),
                            Some(Ok(AskEvent::Revived(report))) => {
                                lanes.then(None, async move { this.on_revived(&report).await })
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "approval watch broke");
                                break;
                            }
                            None => {
                                tracing::info!("the host closed the approval watch");
                                break;
                            }
                        }
                    }
                }
                // Not reachable, or refused the watch: tried again after the backoff.
                Err(e) => tracing::debug!(error = %e, "cannot watch approval requests"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// After (re)connecting to host `pid`: approvals still pending here that no host can
    /// decide any more are closed, and their cards updated.
    pub(crate) async fn resync(&self, pid: u32) {
        let pending = match self.store.pending_approvals().await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read pending approvals");
                return;
            }
        };
        let now = now_ms();
        for (mut a, host_pid) in pending {
            if matches!(a.subject, Subject::Screen { .. }) {
                // Not the host's: the screen scanner looks after these.
                continue;
            }
            let decided = if host_pid != pid {
                // The host that held it is gone; its asker was answered deny.
                a.abandon(walkie_approval::model::HOST_RESTARTED, now)
                    .is_ok()
            } else {
                a.expire(now).is_some()
            };
            if decided {
                self.close(&a, None, None, "host").await;
            }
        }
    }

    /// Stores a decision that was not made here (or not by a person) and shows it.
    async fn close(&self, a: &Approval, user: Option<UserId>, chat: Option<ChatId>, source: &str) {
        match self.store.settle_approval(a).await {
            Ok(true) => {
                self.audit_decision(a, user, chat, source).await;
                self.edit_cards(a).await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, id = a.id.0, "cannot store a decision"),
        }
    }

    /// The session's creation time and program, from the host.
    async fn session_key(&self, session: &str) -> Option<SessionKey> {
        match self.host.info(session).await {
            Ok(Some(info)) => Some(SessionKey {
                created_ms: info.created_ms,
                program: info.command.first().cloned(),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, session, "cannot look the session up");
                None
            }
        }
    }

    /// The config rules for a session running `program`: `[approvals]`'s, plus those of
    /// the presets that start the same program.
    fn rules_for(&self, program: Option<&str>) -> PolicyRules {
        let mut allow = self.cfg.approvals.auto_allow.clone();
        let mut deny = self.cfg.approvals.always_deny.clone();
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        if let Some(prog) = program.map(base) {
            for p in self.cfg.presets.values() {
                if p.command.first().map(|c| base(c)) == Some(prog.clone()) {
                    allow.extend(p.auto_allow.iter().cloned());
                    deny.extend(p.always_deny.iter().cloned());
                }
            }
        }
        // Checked at start (check_rules); should one fail anyway, ask a person.
        PolicyRules::new(&allow, &deny).unwrap_or_else(|e| {
            tracing::error!(error = %e, "approval rules unusable; asking instead");
            PolicyRules::default()
        })
    }

    pub(crate) async fn on_asked(&self, ask: PendingAsk, pid: u32) {
        let id = ApprovalId(ask.id);
        match self.store.approval(id).await {
            Ok(Some(a)) => {
                // Announced again (the bot restarted, or the watch reconnected). A card
                // lost in a crash between storing and sending is posted now.
                if a.state == State::Pending
                    && self
                        .store
                        .approval_cards(id)
                        .await
                        .is_ok_and(|c| c.is_empty())
                {
                    self.post_cards(&a).await;
                }
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read approvals; ask left to time out");
                return;
            }
        }
        let Some(subject) = subject_of(&ask.payload) else {
            // Not something this bot understands (a newer walkie?): let the asker fall
            // back to its own prompt rather than guess.
            tracing::warn!(id = ask.id, "unknown ask payload; answering fallback");
            let _ = self.host.decide(ask.id, Decision::Fallback).await;
            return;
        };
        let mut a = Approval {
            id,
            session: ask.session.clone(),
            subject,
            created_ms: ask.created_ms,
            deadline_ms: ask.deadline_ms,
            state: State::Pending,
        };
        if let Some((answer, rule)) = self.rule_answer(&a).await {
            if a.decide(answer, Decider::Policy { rule }, now_ms())
                .is_err()
            {
                return;
            }
            if let Err(e) = self.store.add_approval(&a, pid).await {
                tracing::error!(error = %e, "cannot store an approval");
            }
            let Some(d) = a.decided().cloned() else {
                return;
            };
            if let Err(e) = self.host.decide(ask.id, decision_value(&a, &d)).await {
                tracing::warn!(error = %e, id = ask.id, "policy decision not delivered");
            }
            self.audit_decision(&a, None, None, "policy").await;
            self.post_silent(&a).await;
            return;
        }
        match self.store.add_approval(&a, pid).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot store an approval; ask left to time out");
                return;
            }
        }
        self.announce(&a, "host", format!("ask {}", a.id.0)).await;
    }

    /// A new approval a person decides: audited as asked, and its cards posted.
    async fn announce(&self, a: &Approval, source: &str, detail: String) {
        self.audit(AuditEntry {
            session: Some(SessionRef::address(&a.session)),
            action: AuditAction::ApprovalAsked,
            source: Some(source.into()),
            text: Some(subject_text(&a.subject)),
            detail: Some(detail),
            ..AuditEntry::default()
        })
        .await;
        self.post_cards(a).await;
    }

    /// What the rules say about a hook request, or a screen prompt that shows its command:
    /// the answer and the rule that gives it, or `None` when a person decides.
    async fn rule_answer(&self, a: &Approval) -> Option<(Answer, String)> {
        let (tool, command) = match &a.subject {
            Subject::Hook { request } => (request.tool.as_str(), request.command.as_deref()),
            Subject::Screen { prompt } => (SCREEN_TOOL, Some(prompt.command.as_deref()?)),
            Subject::Ask { .. } | Subject::Network { .. } => return None,
        };
        let key = self.session_key(&a.session).await;
        let rules = self.rules_for(key.as_ref().and_then(|k| k.program.as_deref()));
        let session_rules = match &key {
            Some(k) => self
                .store
                .session_approvals(&a.session, k.created_ms)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot read session rules");
                    SessionApprovals::default()
                }),
            None => SessionApprovals::default(),
        };
        match evaluate(&rules, &session_rules, tool, command) {
            Verdict::Ask => None,
            Verdict::Deny { rule } => Some((Answer::Deny, rule)),
            Verdict::Allow { rule } => Some((Answer::Approve, rule)),
            Verdict::AllowedForSession { rule } => Some((
                Answer::Approve,
                format!("approved for this session: {rule}"),
            )),
        }
    }

    /// A decision made by a rule: worth a line in the session's chats, not a buzz.
    async fn post_silent(&self, a: &Approval) {
        let shown = card::decided(a);
        for (chat, _) in self.targets(&a.session).await {
            if let Err(e) = self.front.post_card(chat, &shown, true).await {
                tracing::warn!(chat = chat.0, error = %e, "cannot post an auto-decision");
            }
        }
    }

    /// An agent's own report (its `Stop` hook): a new message to the session's chats, which
    /// buzzes only where the chat chose `/notify all`.
    pub(crate) async fn on_notice(&self, session: &str, text: &str) {
        self.front.turn_over(session);
        for (chat, _) in self.targets(session).await {
            let silent = notify_level(&self.store, &self.cfg, chat).await != NotifyLevel::All;
            if let Err(e) = self.front.notice(chat, session, text, silent).await {
                tracing::warn!(chat = chat.0, session, error = %e, "cannot send a notice");
            }
        }
    }

    /// The host's report of a restart: one message to the chats that work with any of its
    /// sessions, else to every operator's and viewer's private chat (buttons for operators).
    pub(crate) async fn on_revived(&self, report: &[walkie_host_proto::revival::Revived]) {
        let note = crate::revival::note(report);
        let mut working = Vec::new();
        for r in report {
            match self.store.chats_of_session(&r.name).await {
                Ok(chats) => working.extend(chats),
                Err(e) => tracing::error!(error = %e, "cannot read chats"),
            }
        }
        for (chat, buttons) in card_targets(&self.front, &self.gate, &working, &self.recipients()) {
            if let Err(e) = self.front.revived(chat, &note, buttons).await {
                tracing::warn!(chat = chat.0, error = %e, "cannot send the revival message");
            }
        }
    }

    /// The chats an approval of `session` goes to, each with whether it gets buttons:
    /// those that work with the session, else every operator's and viewer's private chat.
    pub(crate) async fn targets(&self, session: &str) -> Vec<(ChatId, bool)> {
        let chats = self
            .store
            .chats_of_session(session)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read chats");
                Vec::new()
            });
        let working: Vec<ChatId> = chats;
        card_targets(&self.front, &self.gate, &working, &self.recipients())
    }

    /// Everyone who gets what no chat works with: the operators and the viewers.
    fn recipients(&self) -> Vec<UserId> {
        self.cfg
            .telegram
            .allowed_users
            .iter()
            .chain(&self.cfg.telegram.viewers)
            .map(|u| UserId(*u))
            .collect()
    }

    /// Edits every card of `a` to its current state (decided: outcome, no buttons).
    async fn edit_cards(&self, a: &Approval) {
        let cards = match self.store.approval_cards(a.id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read approval cards");
                return;
            }
        };
        for c in cards {
            let shown = match a.state {
                State::Decided(_) => card::decided(a),
                State::Pending => card::pending(a, c.buttons),
            };
            if let Err(e) = self.front.edit_card(c.chat, c.message, &shown).await {
                tracing::warn!(chat = c.chat.0, error = %e, "cannot update an approval card");
            }
        }
    }

    /// The host closed an ask: decided (by us or another client), expired, or its asker
    /// went away.
    pub(crate) async fn on_closed(&self, id: ApprovalId, decision: Option<Decision>) {
        let mut a = match self.store.approval(id).await {
            Ok(Some(a)) if a.state == State::Pending => a,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read approvals");
                return;
            }
        };
        let now = now_ms();
        match decision {
            None if now + DEADLINE_SLACK_MS >= a.deadline_ms => {
                a.expire(now.max(a.deadline_ms));
            }
            None => {
                let r = match a.subject {
                    // An agent stops its hook when its own dialog was answered.
                    Subject::Hook { .. } | Subject::Screen { .. } => a.answered_at_terminal(now),
                    Subject::Ask { .. } | Subject::Network { .. } => {
                        a.abandon("the asker stopped waiting", now)
                    }
                };
                if r.is_err() {
                    return;
                }
            }
            Some(v) => {
                // Decided by another client of the host (not a press here: those are
                // stored before the host hears of them).
                let answer = match v {
                    Decision::Allow => Answer::Approve,
                    Decision::AllowNetwork {
                        scope: walkie_host_proto::ask::NetworkScope::Session,
                    } => Answer::ApproveForSession,
                    Decision::AllowNetwork {
                        scope: walkie_host_proto::ask::NetworkScope::Always,
                    } => Answer::ApproveAlways,
                    _ => Answer::Deny,
                };
                let by = Decider::Abandoned {
                    reason: "another walkie client".into(),
                };
                if a.decide(answer, by, now).is_err() {
                    return;
                }
            }
        }
        self.close(&a, None, None, "host").await;
    }

    /// A press of one of an approval card's buttons.
    pub async fn on_press(&self, p: &Press) -> Result<(), DeskError> {
        let (chat, user, query) = (p.chat, p.user, &p.press);
        let id = p.id;
        if let ApprovalAction::Choose(n) = p.action {
            return self.on_dialog_press(p, n).await;
        }
        let Some(mut a) = self.store.approval(id).await? else {
            self.front
                .answer_press(query, Some("This approval is gone."))
                .await?;
            return Ok(());
        };
        if p.action == ApprovalAction::Screen {
            return self.show_screen(chat, query, &a.session).await;
        }
        if self.gate.role(user) != Role::Operator {
            self.audit(AuditEntry {
                user_id: Some(user),
                chat_id: Some(chat),
                session: Some(SessionRef::address(&a.session)),
                action: AuditAction::Refused,
                source: Some("button".into()),
                text: Some(p.raw.clone()),
                detail: Some("not allowed to approve".into()),
            })
            .await;
            self.front.answer_press(query, Some(VIEWER_TEXT)).await?;
            return Ok(());
        }
        let Some(answer) = p.action.answer() else {
            return Ok(());
        };
        let name = p.name.clone();
        let pending = a.clone();
        let decided = match a.decide(
            answer,
            Decider::Phone {
                user_id: user.0,
                name,
            },
            now_ms(),
        ) {
            Ok(d) => d,
            Err(late) => {
                // Pending here but past its deadline: the timeout stands.
                if pending.state == State::Pending {
                    self.close(&a, None, None, "host").await;
                }
                self.front
                    .answer_press(query, Some(&card::already_decided(&late.0)))
                    .await?;
                return Ok(());
            }
        };
        // Stored first, so the host's "closed" event for this decision finds it decided.
        if !self.store.settle_approval(&a).await? {
            let text = match self
                .store
                .approval(id)
                .await?
                .as_ref()
                .and_then(Approval::decided)
            {
                Some(d) => card::already_decided(d),
                None => "Already decided.".to_string(),
            };
            self.front.answer_press(query, Some(&text)).await?;
            return Ok(());
        }
        // The rule is stored before the asker hears the answer: an agent's next request
        // can come at once, and must find it. (It stays if the delivery fails: the person
        // meant to approve such commands.)
        if decided.outcome == Outcome::ApprovedForSession {
            // A network ask's "for this session" lives in the session's proxy (the host).
            self.remember_for_session(&a).await;
        }
        let delivered = match &a.subject {
            Subject::Screen { prompt } => {
                let keys = input_chunks(&decided.screen_input(prompt));
                self.host.input(&a.session, keys).await
            }
            _ => self.host.decide(id.0, decision_value(&a, &decided)).await,
        };
        match delivered {
            Ok(()) => {}
            Err(ClientError::Host {
                kind: ErrorKind::AlreadyDecided,
                ..
            }) => {
                // The host no longer holds it (expired, asker gone, or decided elsewhere
                // while this bot was away): the press decided nothing.
                let mut gone = pending.clone();
                let now = now_ms();
                if gone.expire(now).is_none() {
                    let _ = gone.abandon("it was no longer waiting", now);
                }
                self.store.replace_approval(&gone).await?;
                self.audit_decision(&gone, Some(user), Some(chat), "host")
                    .await;
                self.edit_cards(&gone).await;
                self.front
                    .answer_press(query, Some("Already decided: it was no longer waiting."))
                    .await?;
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot deliver a decision");
                self.store.replace_approval(&pending).await?;
                self.front
                    .answer_press(query, Some("The session host did not answer; try again."))
                    .await?;
                return Ok(());
            }
        }
        self.audit_decision(&a, Some(user), Some(chat), "button")
            .await;
        let network = matches!(a.subject, Subject::Network { .. });
        let toast = match decided.outcome {
            Outcome::Approved if network => "Allowed once".to_string(),
            Outcome::Approved => "Approved".to_string(),
            Outcome::ApprovedForSession if network => "Allowed for this session".to_string(),
            Outcome::ApprovedForSession => "Approved for this session".to_string(),
            Outcome::ApprovedAlways => {
                let toast = always_toast(&self.cfg, &a);
                // A boundary change as well as a decision: the profile grew.
                self.audit(AuditEntry {
                    user_id: Some(user),
                    chat_id: Some(chat),
                    session: Some(SessionRef::address(&a.session)),
                    action: AuditAction::Boundary,
                    source: Some("button".into()),
                    text: Some(subject_text(&a.subject)),
                    detail: Some(toast.clone()),
                })
                .await;
                toast
            }
            _ => "Denied".to_string(),
        };
        self.front.answer_press(query, Some(&toast)).await?;
        self.edit_cards(&a).await;
        Ok(())
    }

    /// "Approve for this session": later requests that start the same way are approved.
    async fn remember_for_session(&self, a: &Approval) {
        let rule = match &a.subject {
            Subject::Hook { request } => {
                SessionRule::for_request(&request.tool, request.command.as_deref())
            }
            Subject::Screen { prompt } => match &prompt.command {
                Some(c) => SessionRule::for_request(SCREEN_TOOL, Some(c)),
                // A generic `[y/N]` says nothing that later prompts could be matched on.
                None => return,
            },
            Subject::Ask { .. } | Subject::Network { .. } => return,
        };
        let Some(key) = self.session_key(&a.session).await else {
            return;
        };
        if let Err(e) = self
            .store
            .add_session_approval(&a.session, key.created_ms, &rule, now_ms())
            .await
        {
            tracing::error!(error = %e, "cannot store a session rule");
        }
    }

    /// Reads the screens of the sessions chats work with and keeps one card per prompt:
    /// a prompt seen on two scans in a row gets a card (unless an agent's hook already asked
    /// about the same request); a prompt gone for two scans means it was answered at the
    /// terminal; a passed deadline types the deny keys.
    async fn scan_screens(&self, shutdown: CancellationToken) {
        // The last scan's prompt per session: a prompt counts once seen twice in a row, so
        // a dialog caught mid-redraw does not make a card.
        let mut last: std::collections::HashMap<String, Option<Prompt>> = Default::default();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SCAN_EVERY) => {}
            }
            self.expire_screen_approvals().await;
            let sessions = match self.store.watched_sessions().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read watched sessions");
                    continue;
                }
            };
            last.retain(|s, _| sessions.contains(s));
            // An exited session's last screen may still show a prompt nobody can answer.
            let live: Vec<String> = match self.host.list().await {
                Ok(l) => l
                    .into_iter()
                    .filter(|s| s.state.is_live())
                    .map(|s| s.name)
                    .collect(),
                Err(_) => continue,
            };
            for session in sessions {
                if !live.contains(&session) {
                    last.remove(&session);
                    self.end_screen_approvals(&session).await;
                    continue;
                }
                let Ok(screen) = self.host.screen(&session).await else {
                    continue;
                };
                let prompt = detect_text(&ScreenText::from_text(&screen));
                let before = last.insert(session.clone(), prompt.clone());
                if before.as_ref() != Some(&prompt) {
                    continue;
                }
                if let Err(e) = self.screen_prompt(&session, prompt).await {
                    tracing::warn!(error = %e, session, "screen prompt not handled");
                }
            }
        }
    }

    /// One session's settled screen: `prompt` is on it (or none is).
    pub(crate) async fn screen_prompt(
        &self,
        session: &str,
        prompt: Option<Prompt>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let recent = self
            .store
            .recent_approvals(session, now.saturating_sub(24 * 3600 * 1000))
            .await?;
        let shows = |a: &Approval, p: &Prompt| match &a.subject {
            Subject::Screen { prompt } => prompt == p,
            other => other.same_request(p),
        };
        // Pending screen approvals whose prompt is no longer there: answered at the terminal.
        for a in &recent {
            let on_screen = prompt.as_ref().is_some_and(|p| shows(a, p));
            if a.state == State::Pending
                && matches!(a.subject, Subject::Screen { .. })
                && !on_screen
            {
                let mut a = a.clone();
                if a.answered_at_terminal(now).is_ok() {
                    self.close(&a, None, None, "screen").await;
                }
            }
        }
        let Some(p) = prompt else { return Ok(()) };
        // Already carded: pending, or decided a moment ago and being answered now.
        let known = recent.iter().any(|a| {
            shows(a, &p)
                && match a.decided() {
                    None => true,
                    Some(d) => now.saturating_sub(d.at_ms) < ANSWER_GRACE_MS,
                }
        });
        if known {
            return Ok(());
        }
        let mut a = Approval::new(
            screen_id(),
            session,
            Subject::Screen { prompt: p.clone() },
            now,
            Duration::from_secs(self.cfg.approvals.timeout_s),
        );
        if let Some((answer, rule)) = self.rule_answer(&a).await {
            let Ok(d) = a.decide(answer, Decider::Policy { rule }, now) else {
                return Ok(());
            };
            self.store.add_approval(&a, 0).await?;
            let keys = input_chunks(&d.screen_input(&p));
            if let Err(e) = self.host.input(session, keys).await {
                tracing::warn!(error = %e, session, "policy keys not typed");
            }
            self.audit_decision(&a, None, None, "policy").await;
            self.post_silent(&a).await;
            return Ok(());
        }
        if self.store.add_approval(&a, 0).await? {
            self.announce(&a, "screen", format!("screen prompt {}", a.id.0))
                .await;
        }
        Ok(())
    }

    /// The session ended (or is gone): its pending screen approvals can no longer be
    /// answered.
    async fn end_screen_approvals(&self, session: &str) {
        let Ok(recent) = self.store.recent_approvals(session, 0).await else {
            return;
        };
        for mut a in recent {
            if a.state == State::Pending
                && matches!(a.subject, Subject::Screen { .. })
                && a.abandon("the session ended", now_ms()).is_ok()
            {
                self.close(&a, None, None, "screen").await;
            }
        }
    }

    /// Screen approvals past their deadline: denied, and the deny keys typed.
    pub(crate) async fn expire_screen_approvals(&self) {
        let Ok(pending) = self.store.pending_approvals().await else {
            return;
        };
        let now = now_ms();
        for (mut a, _) in pending {
            let Subject::Screen { prompt } = a.subject.clone() else {
                continue;
            };
            let Some(d) = a.expire(now) else { continue };
            if let Ok(true) = self.store.settle_approval(&a).await {
                let keys = input_chunks(&d.screen_input(&prompt));
                if let Err(e) = self.host.input(&a.session, keys).await {
                    tracing::warn!(error = %e, session = %a.session, "deny keys not typed");
                }
                self.audit_decision(&a, None, None, "screen").await;
                self.edit_cards(&a).await;
            }
        }
    }

    /// The Screen button: the session's screen as a new message.
    async fn show_screen(
        &self,
        chat: ChatId,
        query: &PressRef,
        session: &str,
    ) -> Result<(), DeskError> {
        match self.host.screen(session).await {
            Ok(screen) => {
                self.front.answer_press(query, None).await?;
                let m = self.front.show_screen(chat, session, &screen).await?;
                let session = SessionRef::address(session);
                self.store.remember_message(chat, m, &session).await?;
            }
            Err(e) => {
                tracing::debug!(error = %e, session, "no screen for an approval");
                self.front
                    .answer_press(query, Some(&format!("{session} has no screen now.")))
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::MessageRef;
    use crate::testing::{session, InMemory, MemHost, Sent};
    use tokio::sync::mpsc;
    use walkie_approval::testing::claude_hook_request;
    use walkie_host_proto::protocol::{SessionInfo, SessionState};

    const OPERATOR: i64 = 1;
    const VIEWER: i64 = 2;
    const OTHER_OPERATOR: i64 = 3;
    const SESSION: &str = "backend";
    const PID: u32 = 4242;

    struct Rig {
        desk: Arc<Desk<InMemory, MemHost>>,
        front: InMemory,
        host: MemHost,
        _dir: tempfile::TempDir,
    }

    async fn rig(extra: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        rig_on(store, extra, dir).await
    }

    async fn rig_on(store: Store, extra: &str, dir: tempfile::TempDir) -> Rig {
        let cfg = Config::from_toml(&format!(
            "[telegram]\nallowed_users = [{OPERATOR}, {OTHER_OPERATOR}]\nviewers = [{VIEWER}]\n{extra}"
        ))
        .unwrap();
        let host = MemHost {
            pid: PID,
            ..MemHost::default()
        };
        host.with(|s| {
            s.sessions.push(SessionInfo {
                command: vec!["claude".into()],
                ..session(SESSION, SessionState::Running)
            })
        });
        let front = InMemory::default();
        let desk = Arc::new(Desk {
            gate: Gate::from_config(&cfg.telegram),
            cfg,
            store,
            host: Arc::new(host.clone()),
            front: front.clone(),
            dialogs: Default::default(),
        });
        Rig {
            desk,
            front,
            host,
            _dir: dir,
        }
    }

    fn question(id: u64, deadline_ms: u64) -> PendingAsk {
        PendingAsk {
            id,
            session: SESSION.into(),
            payload: AskPayload::Question {
                question: "Deploy to production?".into(),
                cwd: "/srv".into(),
            },
            created_ms: now_ms(),
            deadline_ms,
        }
    }

    /// The first permission request of Claude Code's recorded hooks (`touch ...`).
    fn hook_ask(id: u64) -> PendingAsk {
        let request = claude_hook_request();
        PendingAsk {
            id,
            session: SESSION.into(),
            payload: AskPayload::Hook { request },
            created_ms: now_ms(),
            deadline_ms: now_ms() + 600_000,
        }
    }

    fn later() -> u64 {
        now_ms() + 600_000
    }

    fn press(chat: i64, user: i64, id: u64, action: ApprovalAction) -> Press {
        Press {
            chat: ChatId(chat),
            user: UserId(user),
            name: format!("user{user}"),
            press: PressRef(format!("q-{chat}-{user}")),
            id: ApprovalId(id),
            action,
            raw: format!("ap:{id}"),
        }
    }

    /// The cards posted: chat, with buttons, silent; by chat (an approval's chats get
    /// their cards at once, in no set order).
    fn cards(sent: &[Sent]) -> Vec<(ChatId, bool, bool)> {
        let mut c: Vec<_> = sent
            .iter()
            .filter_map(|s| match s {
                Sent::Card {
                    chat,
                    buttons,
                    silent,
                    ..
                } => Some((*chat, *buttons > 0, *silent)),
                _ => None,
            })
            .collect();
        c.sort_by_key(|(chat, _, _)| chat.0);
        c
    }

    fn edits(sent: &[Sent]) -> Vec<(ChatId, MessageRef, String, usize)> {
        sent.iter()
            .filter_map(|s| match s {
                Sent::Edit {
                    chat,
                    message,
                    text,
                    buttons,
                } => Some((*chat, *message, text.clone(), *buttons)),
                _ => None,
            })
            .collect()
    }

    fn toasts(sent: &[Sent]) -> Vec<Option<String>> {
        sent.iter()
            .filter_map(|s| match s {
                Sent::Toast { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn two_presses_in_two_chats_decide_once() {
        let r = rig("").await;
        for chat in [-5, -6] {
            r.desk
                .store
                .set_current_session(ChatId(chat), Some(&SessionRef::local(SESSION)))
                .await
                .unwrap();
        }
        r.host.with(|s| s.open.push(7));
        r.desk.on_asked(question(7, later()), PID).await;
        // Both chats work with the session: a card with buttons in each, and it buzzes.
        assert_eq!(
            cards(&r.front.sent()),
            [(ChatId(-6), true, false), (ChatId(-5), true, false)]
        );

        let (first, second) = (
            press(-5, OPERATOR, 7, ApprovalAction::Approve),
            press(-6, OTHER_OPERATOR, 7, ApprovalAction::Deny),
        );
        let (a, b) = tokio::join!(r.desk.on_press(&first), r.desk.on_press(&second));
        a.unwrap();
        b.unwrap();
        let decided = r.host.with(|s| s.decided.clone());
        assert_eq!(decided.len(), 1, "{decided:?}");
        let sent = r.front.sent();
        let toasts = toasts(&sent);
        assert_eq!(toasts.len(), 2, "{toasts:?}");
        let winner = match &decided[0].1 {
            Decision::Allow => "Approved",
            _ => "Denied",
        };
        assert!(toasts.contains(&Some(winner.into())), "{toasts:?}");
        assert!(
            toasts
                .iter()
                .any(|t| t.as_deref().is_some_and(|t| t.starts_with("Already "))),
            "{toasts:?}"
        );
        // Both cards now show the one outcome, without buttons.
        let edits = edits(&sent);
        assert_eq!(edits.len(), 2, "{edits:?}");
        for (_, _, text, buttons) in &edits {
            assert_eq!(*buttons, 0);
            assert!(text.contains(&format!("{winner} by ")), "{text}");
        }
        let a = r.desk.store.approval(ApprovalId(7)).await.unwrap().unwrap();
        assert!(a.decided().is_some());

        // A third press, later, changes nothing either.
        r.desk
            .on_press(&press(-5, OPERATOR, 7, ApprovalAction::Deny))
            .await
            .unwrap();
        assert_eq!(r.host.with(|s| s.decided.len()), 1);
    }

    #[tokio::test]
    async fn a_network_ask_is_decided_with_its_scope_and_always_names_the_file() {
        let r = rig("").await;
        let network = |id| PendingAsk {
            id,
            session: SESSION.into(),
            payload: AskPayload::Network {
                host: "pypi.org".into(),
                port: 443,
                profile: "workspace".into(),
                cwd: "/srv".into(),
            },
            created_ms: now_ms(),
            deadline_ms: later(),
        };
        for (id, action, decision, toast) in [
            (21, ApprovalAction::Approve, Decision::Allow, "Allowed once"),
            (
                22,
                ApprovalAction::ApproveForSession,
                Decision::AllowNetwork {
                    scope: walkie_host_proto::ask::NetworkScope::Session,
                },
                "Allowed for this session",
            ),
            (
                23,
                ApprovalAction::ApproveAlways,
                Decision::AllowNetwork {
                    scope: walkie_host_proto::ask::NetworkScope::Always,
                },
                "Always: pypi.org added to sandbox profile workspace in walkie.toml",
            ),
        ] {
            r.host.with(|s| s.open.push(id));
            r.desk.on_asked(network(id), PID).await;
            let text = r.front.sent().iter().rev().find_map(|s| match s {
                Sent::Card { text, .. } => Some(text.clone()),
                _ => None,
            });
            assert!(
                text.as_deref()
                    .is_some_and(|t| t.contains("backend wants to reach pypi.org:443")),
                "{text:?}"
            );
            r.desk
                .on_press(&press(100 + OPERATOR, OPERATOR, id, action))
                .await
                .unwrap();
            let decided = r.host.with(|s| s.decided.clone());
            assert_eq!(decided.last(), Some(&(id, decision)), "{decided:?}");
            assert_eq!(toasts(&r.front.sent()).last(), Some(&Some(toast.into())));
        }
        // Always is a boundary change too, audited with who pressed.
        let log = r.desk.store.audit_tail(20).await.unwrap();
        assert!(
            log.iter()
                .any(|e| e.action == AuditAction::Boundary.as_str()
                    && e.user_id == Some(OPERATOR)
                    && e.text.as_deref() == Some("reach pypi.org:443")),
            "{log:?}"
        );
    }

    #[tokio::test]
    async fn without_working_chats_cards_go_to_private_chats_and_viewers_cannot_decide() {
        let r = rig("").await;
        r.host.with(|s| s.open.push(8));
        r.desk.on_asked(question(8, later()), PID).await;
        // Operators' private chats with buttons; the viewer's without.
        assert_eq!(
            cards(&r.front.sent()),
            [
                (ChatId(100 + OPERATOR), true, false),
                (ChatId(100 + VIEWER), false, false),
                (ChatId(100 + OTHER_OPERATOR), true, false),
            ]
        );
        r.desk
            .on_press(&press(100 + VIEWER, VIEWER, 8, ApprovalAction::Approve))
            .await
            .unwrap();
        assert_eq!(toasts(&r.front.sent()), [Some(VIEWER_TEXT.to_string())]);
        assert!(r.host.with(|s| s.decided.is_empty()));
        let a = r.desk.store.approval(ApprovalId(8)).await.unwrap().unwrap();
        assert_eq!(a.state, State::Pending);
    }

    #[tokio::test]
    async fn a_card_that_cannot_be_posted_is_reported_and_posted_to_the_other_operators() {
        let r = rig("").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.front.refused.lock().unwrap().push(ChatId(-5));
        r.host.with(|s| s.open.push(9));
        r.desk.on_asked(question(9, later()), PID).await;
        let sent = r.front.sent();
        let warned: Vec<ChatId> = sent
            .iter()
            .filter_map(|s| match s {
                Sent::Card { chat, text, .. }
                    if text.starts_with(
                        "⚠️ Could not post the approval card for backend to chat -5",
                    ) =>
                {
                    Some(*chat)
                }
                _ => None,
            })
            .collect();
        // Both operators are told, and each gets the card with buttons to decide it.
        assert_eq!(
            warned,
            [ChatId(100 + OPERATOR), ChatId(100 + OTHER_OPERATOR)],
            "{sent:?}"
        );
        let with_buttons: Vec<ChatId> = cards(&sent)
            .into_iter()
            .filter(|(_, b, _)| *b)
            .map(|(c, _, _)| c)
            .collect();
        assert_eq!(
            with_buttons,
            [ChatId(100 + OPERATOR), ChatId(100 + OTHER_OPERATOR)]
        );
        let stored = r.desk.store.approval_cards(ApprovalId(9)).await.unwrap();
        assert_eq!(stored.len(), 2, "{stored:?}");
    }

    #[tokio::test]
    async fn a_rule_approves_at_once_with_a_silent_note() {
        let r = rig("[approvals]\nauto_allow = [\"touch /tmp/agent-approved-demo\"]\n").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.host.with(|s| s.open.push(9));
        r.desk.on_asked(hook_ask(9), PID).await;
        assert_eq!(r.host.with(|s| s.decided.clone()), [(9, Decision::Allow)]);
        let sent = r.front.sent();
        assert_eq!(cards(&sent), [(ChatId(-5), false, true)]);
        let Sent::Card { text, .. } = &sent[0] else {
            panic!("{sent:?}")
        };
        assert!(text.starts_with("✅ Approved by rule touch"), "{text}");
    }

    #[tokio::test]
    async fn a_rule_denies_at_once_with_a_silent_note() {
        let r = rig("[approvals]\nalways_deny = [\"touch /tmp/agent-approved-demo\"]\n").await;
        r.host.with(|s| s.open.push(10));
        r.desk.on_asked(hook_ask(10), PID).await;
        let decided = r.host.with(|s| s.decided.clone());
        assert!(
            matches!(decided.as_slice(), [(10, Decision::Deny { .. })]),
            "{decided:?}"
        );
        let sent = r.front.sent();
        // The silent note goes where cards go (here the private chats), without buttons.
        assert!(cards(&sent).iter().all(|(_, b, silent)| !*b && *silent));
        assert!(
            matches!(&sent[0], Sent::Card { text, .. } if text.starts_with("⛔ Denied by rule"))
        );
    }

    #[tokio::test]
    async fn the_deadline_closes_the_card_and_a_late_press_decides_nothing() {
        let r = rig("").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.desk.on_asked(question(11, now_ms()), PID).await;
        assert_eq!(cards(&r.front.sent()).len(), 1);
        // The host times the ask out and closes it without a decision.
        r.desk.on_closed(ApprovalId(11), None).await;
        let e = edits(&r.front.sent());
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].2.starts_with("⛔ Denied (nobody answered in time)"),
            "{}",
            e[0].2
        );
        assert_eq!(e[0].3, 0);
        r.desk
            .on_press(&press(-5, OPERATOR, 11, ApprovalAction::Approve))
            .await
            .unwrap();
        let t = toasts(&r.front.sent());
        assert!(
            t[0].as_deref()
                .is_some_and(|t| t.starts_with("Already denied")),
            "{t:?}"
        );
        assert!(r.host.with(|s| s.decided.is_empty()));
    }

    #[tokio::test]
    async fn after_a_restart_pending_asks_keep_their_cards_and_closed_ones_are_edited() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let before = rig_on(store.clone(), "", tempfile::tempdir().unwrap()).await;
        before.desk.on_asked(question(20, later()), PID).await;
        // Its deadline passes while the bot is away.
        before.desk.on_asked(question(21, now_ms()), PID).await;
        assert_eq!(cards(&before.front.sent()).len(), 6);

        // The bot restarts: same store, same host.
        let after = rig_on(store.clone(), "", dir).await;
        after.desk.resync(PID).await;
        // The host announces what it still holds; the card it has stays.
        after.desk.on_asked(question(20, later()), PID).await;
        let sent = after.front.sent();
        assert!(cards(&sent).is_empty(), "{sent:?}");
        // The expired one's three cards are edited, in place.
        let e = edits(&sent);
        assert_eq!(e.len(), 3, "{e:?}");
        let posted: Vec<MessageRef> = before
            .front
            .sent()
            .iter()
            .filter_map(|s| match s {
                Sent::Card { message, text, .. } if text.contains("Deploy") => Some(*message),
                _ => None,
            })
            .collect();
        for (_, m, text, _) in &e {
            assert!(posted[3..].contains(m), "{m:?} not of ask 21");
            assert!(text.contains("nobody answered in time"), "{text}");
        }
        // The pending one still works from its old card.
        after.host.with(|s| s.open.push(20));
        after
            .desk
            .on_press(&press(
                100 + OPERATOR,
                OPERATOR,
                20,
                ApprovalAction::Approve,
            ))
            .await
            .unwrap();
        assert_eq!(
            after.host.with(|s| s.decided.clone()),
            [(20, Decision::Allow)]
        );

        // The host itself restarts: what it held can no longer be decided.
        after.desk.on_asked(question(22, later()), PID).await;
        after.desk.resync(PID + 1).await;
        let a = store.approval(ApprovalId(22)).await.unwrap().unwrap();
        assert!(a.decided().is_some());
        let e = edits(&after.front.sent());
        assert!(
            e.iter()
                .filter(|(_, _, t, _)| t.contains("restarted"))
                .count()
                == 3,
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn the_watch_reconnects_and_resyncs() {
        let r = rig("").await;
        let (first, rx1) = mpsc::channel(8);
        let (second, rx2) = mpsc::channel(8);
        // Handed out last first.
        r.host.with(|s| s.watches = vec![rx2, rx1]);
        let shutdown = CancellationToken::new();
        let task = r.desk.clone().spawn(shutdown.clone());
        first
            .send(AskEvent::Asked(question(30, later())))
            .await
            .unwrap();
        until(|| cards(&r.front.sent()).len() == 3).await;
        // The watch breaks; on the next one the host announces the ask again.
        drop(first);
        second
            .send(AskEvent::Asked(question(30, later())))
            .await
            .unwrap();
        second
            .send(AskEvent::Closed {
                id: 30,
                decision: None,
            })
            .await
            .unwrap();
        until(|| edits(&r.front.sent()).len() == 3).await;
        assert_eq!(cards(&r.front.sent()).len(), 3, "no second set of cards");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn the_screen_button_shows_the_screen_and_notices_reach_the_chats() {
        let r = rig("").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.host.with(|s| {
            s.open.push(40);
            s.screens.insert(SESSION.into(), "$ make deploy".into());
        });
        r.desk.on_asked(question(40, later()), PID).await;
        // A viewer may look at the screen, not decide.
        let p = press(-5, VIEWER, 40, ApprovalAction::Screen);
        r.desk.on_press(&p).await.unwrap();
        r.desk.on_notice(SESSION, "finished its turn").await;
        let sent = r.front.sent();
        assert!(sent.contains(&Sent::Toast {
            press: p.press.clone(),
            text: None
        }));
        assert!(sent.contains(&Sent::Screen {
            chat: ChatId(-5),
            session: SESSION.into()
        }));
        assert!(sent.contains(&Sent::Notice {
            chat: ChatId(-5),
            session: SESSION.into(),
            text: "finished its turn".into(),
            silent: r.desk.cfg.notify.level() != NotifyLevel::All,
        }));
        assert!(r.host.with(|s| s.decided.is_empty() && s.typed.is_empty()));
    }

    #[tokio::test]
    async fn a_revival_report_is_one_message_per_chat_with_buttons_for_operators() {
        use walkie_host_proto::revival::{ReviveOutcome, Revived};
        let report = [
            Revived {
                name: SESSION.into(),
                kind: "claude".into(),
                outcome: ReviveOutcome::Resumed,
            },
            Revived {
                name: "logs".into(),
                kind: "shell".into(),
                outcome: ReviveOutcome::Left,
            },
        ];
        // No chat works with them: the operators' and viewers' private chats.
        let r = rig("").await;
        r.desk.on_revived(&report).await;
        let sent = r.front.sent();
        let revived: Vec<&Sent> = sent
            .iter()
            .filter(|s| matches!(s, Sent::Revived { .. }))
            .collect();
        let people = r.desk.cfg.telegram.allowed_users.len() + r.desk.cfg.telegram.viewers.len();
        assert_eq!(revived.len(), people, "{sent:?}");
        for s in revived {
            let Sent::Revived {
                chat,
                text,
                buttons,
            } = s
            else {
                unreachable!()
            };
            assert!(
                text.starts_with("♻️ revived after restart: backend (claude, resumed)"),
                "{text}"
            );
            let viewer = *chat == r.desk.front.private_chat(UserId(VIEWER));
            assert_eq!(*buttons, if viewer { 0 } else { 2 }, "{s:?}");
        }
        // A chat working with one of them gets it once.
        let r = rig("").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.desk.on_revived(&report).await;
        let sent = r.front.sent();
        assert_eq!(
            sent.iter()
                .filter(|s| matches!(s, Sent::Revived { chat, .. } if *chat == ChatId(-5)))
                .count(),
            1,
            "{sent:?}"
        );
        assert_eq!(sent.len(), 1, "{sent:?}");
    }

    /// A `[y/N]` question on the screen of [`SESSION`], as the desk's scan reads it.
    fn yes_no() -> Prompt {
        let screen = "$ ./clean.sh\nRemove build/? [y/N] ";
        detect_text(&ScreenText::from_text(screen)).expect("a [y/N] prompt")
    }

    async fn screen_approval_id(r: &Rig) -> u64 {
        let pending = r.desk.store.pending_approvals().await.unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        pending[0].0.id.0
    }

    #[tokio::test]
    async fn a_prompt_on_the_screen_gets_one_card_and_a_press_types_its_keys() {
        let r = rig("").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.desk.screen_prompt(SESSION, Some(yes_no())).await.unwrap();
        // The same prompt on the next scans: no second card.
        r.desk.screen_prompt(SESSION, Some(yes_no())).await.unwrap();
        assert_eq!(cards(&r.front.sent()), [(ChatId(-5), true, false)]);
        let id = screen_approval_id(&r).await;
        assert_ne!(id & SCREEN_ID_BIT, 0, "a screen approval's own id");
        r.desk
            .on_press(&press(-5, OPERATOR, id, ApprovalAction::Approve))
            .await
            .unwrap();
        // The prompt's own answer is typed; the host's asks are not involved.
        let typed = r.host.with(|s| s.typed.clone());
        assert_eq!(typed.len(), 1, "{typed:?}");
        assert_eq!(typed[0].0, SESSION);
        assert_eq!(typed[0].1.concat(), b"y\r");
        assert!(r.host.with(|s| s.decided.is_empty()));
        // The prompt on its way out, then gone: nothing more is typed or posted.
        r.desk.screen_prompt(SESSION, Some(yes_no())).await.unwrap();
        r.desk.screen_prompt(SESSION, None).await.unwrap();
        assert_eq!(cards(&r.front.sent()).len(), 1);
        assert_eq!(r.host.with(|s| s.typed.len()), 1);
        let e = edits(&r.front.sent());
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].2.contains("Approved"), "{e:?}");
        assert_eq!(e[0].3, 0, "a decided card has no buttons");
    }

    #[tokio::test]
    async fn a_prompt_that_leaves_the_screen_unanswered_was_answered_at_the_terminal() {
        let r = rig("").await;
        r.desk
            .store
            .set_current_session(ChatId(-5), Some(&SessionRef::local(SESSION)))
            .await
            .unwrap();
        r.desk.screen_prompt(SESSION, Some(yes_no())).await.unwrap();
        let id = screen_approval_id(&r).await;
        r.desk.screen_prompt(SESSION, None).await.unwrap();
        let e = edits(&r.front.sent());
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].2.contains("Answered at the terminal"), "{e:?}");
        assert!(r.desk.store.pending_approvals().await.unwrap().is_empty());
        // A late press decides nothing and types nothing.
        r.desk
            .on_press(&press(-5, OPERATOR, id, ApprovalAction::Deny))
            .await
            .unwrap();
        assert!(r.host.with(|s| s.typed.is_empty()));
        let t = toasts(&r.front.sent());
        assert!(
            t.last().unwrap().as_deref().unwrap().contains("terminal"),
            "{t:?}"
        );
    }

    /// Waits (at most 10 s) for `done`.
    async fn until(done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
