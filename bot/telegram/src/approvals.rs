//! Approvals on the phone: the host's pending asks become Telegram cards, and a press of
//! Approve / Approve for this session / Deny decides them.
//!
//! # Flow
//! - A task ([`Approvals::spawn`]) watches the host's asks (`Client::watch_asks`),
//!   reconnecting with backoff when the host goes away. For each new ask it applies the
//!   policy ([`walkie_approval::policy`]: config rules, then "approved for this session"):
//!   a rule decides at once, with a silent note in the chats and an audit line; otherwise a
//!   card is posted as a new message (so the phone buzzes) to every chat that works with
//!   the session, else to every operator's and viewer's private chat. Viewers' copies have
//!   no buttons.
//! - A press ([`Approvals::on_press`], routed from `app.rs`) is checked (operators only),
//!   recorded in SQLite only if the approval is still pending, then sent to the host with
//!   `Client::decide`. The host's first decision wins: a late one (`AlreadyDecided`) is
//!   answered "already decided". Every card of the approval is then edited to the outcome,
//!   who decided and when, without buttons.
//! - When the host closes an ask without a decision (the deadline passed, or the asker
//!   went away: for an agent's hook that means someone answered at the terminal), the
//!   cards are edited to say so.
//! - Screen prompts: a second task reads, every second, the screens of the sessions some
//!   chat works with and runs [`walkie_approval::detect`] on them. A prompt seen on two
//!   reads in a row gets a card (unless an agent's hook already asked about the same
//!   request); its buttons type the prompt's approve or deny keys with `Client::input`;
//!   when the prompt leaves the screen without a press, the card says "answered at the
//!   terminal"; past the deadline the deny keys are typed. These approvals are the bot's
//!   own (ids with bit 62 set, never a host ask id).
//! - Approvals and their cards live in SQLite ([`walkie_console::approval_store`]), so the buttons
//!   keep working after a bot restart: the host announces pending asks again to every new
//!   watcher. On (re)connecting, approvals of a host process that is gone (the host
//!   restarted; its blocked hooks answered deny) and approvals past their deadline are
//!   closed and their cards edited.
//!
//! # Agents' hooks
//! Sessions started with `/new NAME claude` get `--settings` with walkie's
//! `PermissionRequest` hook ([`hook_args`]), which adds to the user's settings for that
//! run without touching them. Codex reads hooks only from `hooks.json` in its home
//! directory (`CODEX_HOME`), so it cannot be given the hook without writing a file the user
//! owns (or replacing the home, which holds the login); for Codex, add the hook by hand as
//! described in [`walkie_approval::hook`]. Without it, Codex's prompts are answered at the
//! terminal (or with `/keys`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use teloxide::types::CallbackQuery;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use walkie_config::NotifyLevel;
use walkie_host_proto::client::{AskEvent, Client, ClientError};
use walkie_host_proto::protocol::{ErrorKind, PendingAsk};

use super::app::HandleError;
use super::card::{decode_callback, html, markup};
use super::context::Context;
use super::render::{escape_html, render_live, utf16_len};
use walkie_approval::card;
use walkie_approval::detect::{detect_text, input_chunks, Prompt, ScreenText};
use walkie_approval::hook::Decision;
use walkie_approval::model::{
    now_ms, Answer, Approval, ApprovalAction, ApprovalId, Decided, Decider, Millis, Outcome, State,
    Subject,
};
use walkie_approval::policy::{evaluate, PolicyRules, SessionApprovals, SessionRule, Verdict};
use walkie_console::approval_store::ApprovalCard;
use walkie_console::front::{card_targets, ChatId, UserId};
use walkie_console::gate::{Role, VIEWER_TEXT};

use super::TelegramIds;
use walkie_console::store::{AuditAction, AuditEntry};
use walkie_host_proto::ask::AskPayload;

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
fn screen_id() -> ApprovalId {
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

/// The approvals desk: the watcher task and the button handler share it.
#[derive(Clone)]
pub(crate) struct Approvals {
    pub(crate) ctx: Arc<Context>,
}

impl std::ops::Deref for Approvals {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

/// The session's name and creation time, as far as the host knows them.
struct SessionKey {
    created_ms: u64,
    program: Option<String>,
}

/// What the asker gets for a decision: the hook's decision (also what `walkie ask` reads).
fn decision_value(d: &Decided) -> Decision {
    d.hook_decision()
}

/// One line for the audit log: what was asked.
fn subject_text(s: &Subject) -> String {
    match s {
        Subject::Hook { request } => request.summary(),
        Subject::Screen { prompt } => prompt.question.clone(),
        Subject::Ask { question } => question.clone(),
    }
}

fn subject_of(payload: &AskPayload) -> Option<Subject> {
    match payload.clone() {
        AskPayload::Hook { request } => Some(Subject::Hook { request }),
        AskPayload::Question { question, .. } => Some(Subject::Ask { question }),
    }
}

impl Approvals {
    fn socket(&self) -> PathBuf {
        self.cfg.socket_path()
    }

    async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    async fn audit_decision(
        &self,
        a: &Approval,
        user: Option<i64>,
        chat: Option<i64>,
        source: &str,
    ) {
        let Some(d) = a.decided() else { return };
        self.audit(AuditEntry {
            user_id: user,
            chat_id: chat,
            session: Some(a.session.clone()),
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
    pub(crate) fn spawn(self: Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            tokio::join!(
                self.watch(shutdown.clone()),
                self.scan_screens(shutdown.clone())
            );
        })
    }

    async fn watch(&self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match Client::connect(&self.socket()).await {
                Ok(c) => {
                    let pid = c.host_pid;
                    match c.watch_asks().await {
                        Ok(mut w) => {
                            backoff = Duration::from_millis(200);
                            tracing::info!(host_pid = pid, "watching approval requests");
                            self.resync(pid).await;
                            loop {
                                let ev = tokio::select! {
                                    _ = shutdown.cancelled() => return,
                                    ev = w.next() => ev,
                                };
                                match ev {
                                    Some(Ok(AskEvent::Asked(ask))) => self.on_asked(ask, pid).await,
                                    Some(Ok(AskEvent::Closed { id, decision })) => {
                                        self.on_closed(ApprovalId(id), decision).await
                                    }
                                    Some(Ok(AskEvent::Notice { session, text, .. })) => {
                                        self.on_notice(&session, &text).await
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
                        Err(e) => tracing::warn!(error = %e, "cannot watch approval requests"),
                    }
                }
                Err(e) => tracing::debug!(error = %e, "host not reachable for approvals"),
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
    async fn resync(&self, pid: u32) {
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
                a.abandon("the session host restarted", now).is_ok()
            } else {
                a.expire(now).is_some()
            };
            if decided {
                self.close(&a, None, None, "host").await;
            }
        }
    }

    /// Stores a decision that was not made here (or not by a person) and shows it.
    async fn close(&self, a: &Approval, user: Option<i64>, chat: Option<i64>, source: &str) {
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

    async fn on_asked(&self, ask: PendingAsk, pid: u32) {
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
            let _ = self.decide_on_host(ask.id, Decision::Fallback).await;
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
            if let Err(e) = self.decide_on_host(ask.id, decision_value(&d)).await {
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
        self.audit(AuditEntry {
            session: Some(a.session.clone()),
            action: AuditAction::ApprovalAsked,
            source: Some("host".into()),
            text: Some(subject_text(&a.subject)),
            detail: Some(format!("ask {}", a.id.0)),
            ..AuditEntry::default()
        })
        .await;
        self.post_cards(&a).await;
    }

    /// What the rules say about a hook request, or a screen prompt that shows its command:
    /// the answer and the rule that gives it, or `None` when a person decides.
    async fn rule_answer(&self, a: &Approval) -> Option<(Answer, String)> {
        let (tool, command) = match &a.subject {
            Subject::Hook { request } => (request.tool.as_str(), request.command.as_deref()),
            Subject::Screen { prompt } => (SCREEN_TOOL, Some(prompt.command.as_deref()?)),
            Subject::Ask { .. } => return None,
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
        let text = html(&card::decided(a));
        for (chat, _) in self.targets(&a.session).await {
            if let Err(e) = self.tg.send_html_silent(chat, &text).await {
                tracing::warn!(chat, error = %e, "cannot post an auto-decision");
            }
        }
    }

    /// The chats an approval of `session` goes to, each with whether it gets buttons:
    /// those that work with the session, else every operator's and viewer's private chat.
    /// An agent's own report (its `Stop` hook): a new message to the session's chats, which
    /// buzzes only where the chat chose `/notify all`.
    async fn on_notice(&self, session: &str, text: &str) {
        self.live.turn_over(session);
        let html = format!("✅ <b>{}</b> {}", escape_html(session), escape_html(text));
        for (chat, _) in self.targets(session).await {
            let silent =
                super::app::notify_level(&self.store, &self.cfg, chat).await != NotifyLevel::All;
            if let Err(e) = self.tg.send_card(chat, &html, None, silent).await {
                tracing::warn!(chat, session, error = %e, "cannot send a notice");
            }
        }
    }

    async fn targets(&self, session: &str) -> Vec<(i64, bool)> {
        let chats = self
            .store
            .chats_of_session(session)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read chats");
                Vec::new()
            });
        let working: Vec<ChatId> = chats.into_iter().map(ChatId).collect();
        let recipients: Vec<UserId> = self
            .cfg
            .telegram
            .allowed_users
            .iter()
            .chain(&self.cfg.telegram.viewers)
            .map(|u| UserId(*u))
            .collect();
        card_targets(&TelegramIds, &self.gate, &working, &recipients)
            .into_iter()
            .map(|(c, buttons)| (c.0, buttons))
            .collect()
    }

    async fn post_cards(&self, a: &Approval) {
        for (chat, buttons) in self.targets(&a.session).await {
            let c = card::pending(a, buttons);
            // A chat that chose /notify none gets its cards silently.
            let silent =
                super::app::notify_level(&self.store, &self.cfg, chat).await == NotifyLevel::None;
            match self.tg.send_card(chat, &html(&c), markup(&c), silent).await {
                Ok(m) => {
                    let message_id = i64::from(m.id.0);
                    let card = ApprovalCard {
                        chat_id: chat,
                        message_id,
                        buttons,
                    };
                    if let Err(e) = self.store.add_approval_card(a.id, card).await {
                        tracing::error!(error = %e, "cannot store an approval card");
                    }
                    // Replying to the card goes to the session, like its other messages.
                    let _ = self
                        .store
                        .remember_message(chat, message_id, &a.session)
                        .await;
                }
                Err(e) => tracing::warn!(chat, error = %e, "cannot post an approval card"),
            }
        }
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
            let Ok(mid) = i32::try_from(c.message_id) else {
                continue;
            };
            if let Err(e) = self
                .tg
                .edit_html(c.chat_id, mid, &html(&shown), markup(&shown))
                .await
            {
                tracing::warn!(chat = c.chat_id, error = %e, "cannot update an approval card");
            }
        }
    }

    async fn decide_on_host(&self, id: u64, v: Decision) -> Result<(), ClientError> {
        let mut c = Client::connect(&self.socket()).await?;
        c.decide(id, v).await
    }

    /// The host closed an ask: decided (by us or another client), expired, or its asker
    /// went away.
    async fn on_closed(&self, id: ApprovalId, decision: Option<Decision>) {
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
                    Subject::Ask { .. } => a.abandon("the asker stopped waiting", now),
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
    pub(crate) async fn on_press(
        &self,
        q: &CallbackQuery,
        chat: i64,
        data: &str,
    ) -> Result<(), HandleError> {
        let user = q.from.id.0 as i64;
        let query = q.id.0.as_str();
        let Some((id, action)) = decode_callback(data) else {
            self.tg
                .answer_callback(query, Some("This button no longer works."))
                .await?;
            return Ok(());
        };
        let Some(mut a) = self.store.approval(id).await? else {
            self.tg
                .answer_callback(query, Some("This approval is gone."))
                .await?;
            return Ok(());
        };
        if action == ApprovalAction::Screen {
            return self.show_screen(chat, query, &a.session).await;
        }
        if self.gate.role(user) != Role::Operator {
            self.audit(AuditEntry {
                user_id: Some(user),
                chat_id: Some(chat),
                session: Some(a.session.clone()),
                action: AuditAction::Refused,
                source: Some("button".into()),
                text: Some(data.into()),
                detail: Some("not allowed to approve".into()),
            })
            .await;
            self.tg.answer_callback(query, Some(VIEWER_TEXT)).await?;
            return Ok(());
        }
        let Some(answer) = action.answer() else {
            return Ok(());
        };
        let name = q
            .from
            .username
            .clone()
            .unwrap_or_else(|| q.from.first_name.clone());
        let pending = a.clone();
        let decided = match a.decide(
            answer,
            Decider::Phone {
                user_id: user,
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
                self.tg
                    .answer_callback(query, Some(&card::already_decided(&late.0)))
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
            self.tg.answer_callback(query, Some(&text)).await?;
            return Ok(());
        }
        // The rule is stored before the asker hears the answer: an agent's next request
        // can come at once, and must find it. (It stays if the delivery fails: the person
        // meant to approve such commands.)
        if decided.outcome == Outcome::ApprovedForSession {
            self.remember_for_session(&a).await;
        }
        let delivered = match &a.subject {
            Subject::Screen { prompt } => {
                let keys = input_chunks(&decided.screen_input(prompt));
                self.host.input(&a.session, keys).await
            }
            _ => self.decide_on_host(id.0, decision_value(&decided)).await,
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
                self.tg
                    .answer_callback(query, Some("Already decided: it was no longer waiting."))
                    .await?;
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot deliver a decision");
                self.store.replace_approval(&pending).await?;
                self.tg
                    .answer_callback(query, Some("The session host did not answer; try again."))
                    .await?;
                return Ok(());
            }
        }
        self.audit_decision(&a, Some(user), Some(chat), "button")
            .await;
        let toast = match decided.outcome {
            Outcome::Approved => "Approved",
            Outcome::ApprovedForSession => "Approved for this session",
            _ => "Denied",
        };
        self.tg.answer_callback(query, Some(toast)).await?;
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
            Subject::Ask { .. } => return,
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
    async fn screen_prompt(
        &self,
        session: &str,
        prompt: Option<Prompt>,
    ) -> Result<(), walkie_console::store::StoreError> {
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
            self.audit(AuditEntry {
                session: Some(a.session.clone()),
                action: AuditAction::ApprovalAsked,
                source: Some("screen".into()),
                text: Some(subject_text(&a.subject)),
                detail: Some(format!("screen prompt {}", a.id.0)),
                ..AuditEntry::default()
            })
            .await;
            self.post_cards(&a).await;
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
    async fn expire_screen_approvals(&self) {
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
    async fn show_screen(&self, chat: i64, query: &str, session: &str) -> Result<(), HandleError> {
        match self.host.screen(session).await {
            Ok(screen) => {
                self.tg.answer_callback(query, None).await?;
                let html = render_live(
                    Some(&format!("<b>{}</b>", escape_html(session))),
                    utf16_len(session),
                    &screen,
                );
                let m = self.tg.send_html(chat, &html, None, None).await?;
                self.store
                    .remember_message(chat, i64::from(m.id.0), session)
                    .await?;
            }
            Err(e) => {
                tracing::debug!(error = %e, session, "no screen for an approval");
                self.tg
                    .answer_callback(query, Some(&format!("{session} has no screen now.")))
                    .await?;
            }
        }
        Ok(())
    }
}
