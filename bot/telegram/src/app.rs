//! Handling of one Telegram update: who sent it, what it asks, and the answer.
//!
//! Every update passes the [`Gate`] first; refusals are audited (and strangers answered
//! at most once an hour). Allowed messages are commands, or text for a session: `name:
//! text`, a reply to one of a session's messages, or else the chat's current session.
//! Every dispatch is audited.

use std::sync::Arc;

use teloxide::types::{
    CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, UpdateKind,
};
use teloxide::utils::command::BotCommands;
use walkie_config::NotifyLevel;
use walkie_host_proto::client::ClientError;
use walkie_host_proto::keys::Key;
use walkie_host_proto::protocol::{ErrorKind, NewSession, SessionInfo};

use super::commands::{self, Command, NewSpec, Request, Usage};
use super::context::Context;
use super::render::{escape_html, fit_bottom, MAX_MESSAGE_UTF16};
use super::tg::TgError;
use super::voice::{card_buttons, card_html, parse_card_data, CardAction, MAX_DOWNLOAD_BYTES};
use walkie_console::front::ChatId;
use walkie_console::gate::{Action, Verdict};
use walkie_console::host::Host;
use walkie_console::presets::{self, Launch};
use walkie_console::store::{AuditAction, AuditEntry, NewTranscript, TranscriptState};
use walkie_console::voice::Voice;

/// Callback data of the /ls buttons: `use:NAME` (at most 36 bytes, under Telegram's 64).
const USE_PREFIX: &str = "use:";

/// Lines `/tail` shows by default.
const DEFAULT_TAIL: usize = 20;

/// The update handler: the shared context, and what only it needs.
pub(crate) struct App {
    pub(crate) ctx: Arc<Context>,
    /// The approval desk (cards and their buttons), built once beside the app.
    pub(crate) desk: Arc<crate::front::TelegramDesk>,
    pub(crate) voice: Voice,
    pub(crate) bot_username: String,
}

impl std::ops::Deref for App {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

/// Errors while handling an update: logged, never fatal to the bot.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandleError {
    #[error("telegram: {0}")]
    Telegram(#[from] TgError),
    #[error(transparent)]
    Store(#[from] walkie_console::store::StoreError),
    #[error(transparent)]
    Desk(#[from] walkie_console::desk::DeskError),
}

/// A failed request to the host, as a one-line answer.
fn host_answer(e: &ClientError, session: Option<&str>) -> String {
    match e {
        ClientError::Host {
            kind: ErrorKind::NoSuchSession,
            ..
        } => match session {
            Some(s) => format!("No session {s}; /ls lists them, /new {s} starts one."),
            None => "No such session; /ls lists them.".into(),
        },
        ClientError::Host { message, .. } => message.clone(),
        other => format!("The session host did not answer ({other}); is `walkie host` running?"),
    }
}

impl App {
    /// Handles one update. Errors are the caller's to log; the update counts as handled.
    pub(crate) async fn handle(&self, update: Update) -> Result<(), HandleError> {
        match update.kind {
            UpdateKind::Message(m) => self.on_message(m).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(q).await,
            _ => Ok(()),
        }
    }

    async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    /// Runs the gate; on refusal audits it and answers as the policy says.
    async fn admit(
        &self,
        user: i64,
        chat: i64,
        action: Action,
        what: &str,
        source: &str,
    ) -> Result<bool, HandleError> {
        let last = match self.gate.role(user) {
            walkie_console::gate::Role::Stranger => self.store.stranger_refused(user).await?,
            _ => None,
        };
        match self.gate.check(user, action, last) {
            Verdict::Allow => Ok(true),
            Verdict::Refuse { reply } => {
                self.audit(AuditEntry {
                    user_id: Some(user),
                    chat_id: Some(chat),
                    action: AuditAction::Refused,
                    source: Some(source.into()),
                    text: Some(what.into()),
                    detail: Some(format!(
                        "{:?}; {}",
                        self.gate.role(user),
                        if reply.is_some() {
                            "answered"
                        } else {
                            "silent"
                        }
                    )),
                    ..AuditEntry::default()
                })
                .await;
                tracing::info!(user, chat, "refused an update");
                if let Some(r) = reply {
                    if self.gate.role(user) == walkie_console::gate::Role::Stranger {
                        self.store.stranger_answered(user).await?;
                    }
                    self.reply(chat, r).await?;
                }
                Ok(false)
            }
        }
    }

    async fn reply(&self, chat: i64, text: &str) -> Result<(), HandleError> {
        self.tg.send_text(chat, text).await?;
        self.live.saw_message(chat);
        Ok(())
    }

    async fn reply_html(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
    ) -> Result<Message, HandleError> {
        let m = self.tg.send_html(chat, html, markup, None).await?;
        self.live.saw_message(chat);
        Ok(m)
    }

    /// Sends `html` as a message of `session`, so that replying to it goes there.
    async fn reply_for(&self, chat: i64, session: &str, html: &str) -> Result<(), HandleError> {
        let m = self.reply_html(chat, html, None).await?;
        self.store
            .remember_message(chat, i64::from(m.id.0), session)
            .await?;
        Ok(())
    }

    async fn on_message(&self, m: Message) -> Result<(), HandleError> {
        let chat = m.chat.id.0;
        self.live.saw_message(chat);
        let Some(user) = m.from.as_ref().map(|u| u.id.0 as i64) else {
            return Ok(());
        };
        if let Some(v) = m.voice() {
            if !self
                .admit(user, chat, Action::Act, "(voice note)", "voice")
                .await?
            {
                return Ok(());
            }
            return self.on_voice(user, chat, i64::from(m.id.0), v).await;
        }
        let Some(text) = m.text() else { return Ok(()) };
        if text.starts_with('/') {
            let presets: Vec<String> = self.cfg.presets.keys().cloned().collect();
            let parsed = commands::parse(text, &self.bot_username, &presets);
            let action = match &parsed {
                Ok(Some(r)) if !r.is_read_only() => Action::Act,
                _ => Action::Read,
            };
            if !self.admit(user, chat, action, text, "text").await? {
                return Ok(());
            }
            return match parsed {
                Ok(Some(req)) => {
                    self.audit(AuditEntry {
                        user_id: Some(user),
                        chat_id: Some(chat),
                        action: AuditAction::Command,
                        source: Some("text".into()),
                        text: Some(text.into()),
                        ..AuditEntry::default()
                    })
                    .await;
                    self.command(chat, req).await
                }
                Ok(None) => Ok(()),
                Err(Usage(u)) => self.reply(chat, &u).await,
            };
        }
        if !self.admit(user, chat, Action::Act, text, "text").await? {
            return Ok(());
        }
        if let Some(id) = self.store.editing_transcript(chat).await? {
            return self.replace_transcript(chat, id, text).await;
        }
        let sessions = match self.host.list().await {
            Ok(s) => s,
            Err(e) => return self.reply(chat, &host_answer(&e, None)).await,
        };
        let names: Vec<String> = sessions.iter().map(|s| s.name.clone()).collect();
        let reply_target = match m.reply_to_message() {
            Some(r) => {
                self.store
                    .session_of_message(chat, i64::from(r.id.0))
                    .await?
            }
            None => None,
        };
        let (target, body) = if let Some((name, rest)) = commands::route_prefix(text, &names) {
            (Some(name), rest.to_string())
        } else if let Some(name) = reply_target {
            (Some(name), text.to_string())
        } else {
            (self.store.current_session(chat).await?, text.to_string())
        };
        let Some(session) = target else {
            return self
                .reply(chat, "No current session: /new NAME starts one, /use NAME picks one, /ls lists them.")
                .await;
        };
        self.dispatch(user, chat, &session, &body, "text").await
    }

    /// Types `text` + Enter into `session`, audits it, and shows the live screen.
    async fn dispatch(
        &self,
        user: i64,
        chat: i64,
        session: &str,
        text: &str,
        source: &str,
    ) -> Result<(), HandleError> {
        // A dialog on screen, or an agent not ready yet: held, typed later by the desk.
        let (c, u) = (ChatId(chat), walkie_console::front::UserId(user));
        if let Some(note) = self.desk.hold_text(c, u, session, text, source).await {
            self.live.ensure(chat, session);
            return self.reply(chat, &note).await;
        }
        match self.host.send_line(session, text).await {
            Ok(()) => {
                self.audit(AuditEntry {
                    user_id: Some(user),
                    chat_id: Some(chat),
                    session: Some(session.into()),
                    action: AuditAction::Dispatch,
                    source: Some(source.into()),
                    text: Some(text.into()),
                    detail: None,
                })
                .await;
                tracing::info!(user, chat, session, source, "dispatched");
                self.live.ensure(chat, session);
                Ok(())
            }
            Err(e) => self.reply(chat, &host_answer(&e, Some(session))).await,
        }
    }

    /// The session a command is about: the named one, else the chat's current one.
    async fn target(&self, chat: i64, name: Option<String>) -> Result<Option<String>, HandleError> {
        if name.is_some() {
            return Ok(name);
        }
        let current = self.store.current_session(chat).await?;
        if current.is_none() {
            self.reply(
                chat,
                "No current session: name one, or /use NAME first (/ls lists them).",
            )
            .await?;
        }
        Ok(current)
    }

    async fn command(&self, chat: i64, req: Request) -> Result<(), HandleError> {
        match req {
            Request::Help => {
                let help = Command::descriptions().to_string();
                let extra =
                    "\n\nPlain text goes to the current session; `name: text` to another one; \
                             replying to a session's message goes to that session.";
                self.reply(chat, &format!("{help}{extra}")).await
            }
            Request::Ls => self.ls(chat).await,
            Request::Use { name } => match self.host.info(&name).await {
                Ok(Some(_)) => {
                    self.store.set_current_session(chat, Some(&name)).await?;
                    self.reply(chat, &format!("Now talking to {name}.")).await?;
                    self.live.ensure(chat, &name);
                    Ok(())
                }
                Ok(None) => {
                    self.reply(chat, &format!("No session {name}; /ls lists them."))
                        .await
                }
                Err(e) => self.reply(chat, &host_answer(&e, Some(&name))).await,
            },
            Request::New { name, spec } => self.new_session(chat, name, spec).await,
            Request::Screen { name } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                match self.host.screen(&name).await {
                    Ok(screen) => {
                        let html = super::render::render_live(
                            Some(&format!("<b>{}</b>", escape_html(&name))),
                            super::render::utf16_len(&name),
                            &screen,
                        );
                        self.reply_for(chat, &name, &html).await
                    }
                    Err(e) => self.reply(chat, &host_answer(&e, Some(&name))).await,
                }
            }
            Request::Tail { name, lines } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                match self.host.tail(&name, lines.unwrap_or(DEFAULT_TAIL)).await {
                    Ok(text) => {
                        let text = super::render::trim_screen(&text);
                        let body = if text.is_empty() {
                            "(no output yet)".to_string()
                        } else {
                            text
                        };
                        let body = fit_bottom(&body, MAX_MESSAGE_UTF16 - 1);
                        let html = format!("<pre>{}</pre>", escape_html(&body));
                        self.reply_for(chat, &name, &html).await
                    }
                    Err(e) => self.reply(chat, &host_answer(&e, Some(&name))).await,
                }
            }
            Request::Keys { name, keys } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                let mut chunks = Vec::new();
                for k in &keys {
                    match k.parse::<Key>() {
                        Ok(key) => chunks.push(key.bytes()),
                        Err(e) => return self.reply(chat, &e.to_string()).await,
                    }
                }
                match self.host.input(&name, chunks).await {
                    Ok(()) => {
                        self.live.ensure(chat, &name);
                        Ok(())
                    }
                    Err(e) => self.reply(chat, &host_answer(&e, Some(&name))).await,
                }
            }
            Request::Pause { name } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                let r = self.host.pause(&name).await;
                self.state_answer(chat, &name, r).await
            }
            Request::Resume { name } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                let r = self.host.resume(&name).await;
                self.state_answer(chat, &name, r).await
            }
            Request::Kill { name } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                let r = self.host.kill(&name).await;
                self.state_answer(chat, &name, r).await
            }
            Request::Notify { level } => {
                let text = match level {
                    Some(level) => {
                        self.store.set_notify_level(chat, level).await?;
                        format!("Notifications here: {}.", describe_level(level))
                    }
                    None => {
                        let level = self.notify_level(chat).await;
                        format!(
                            "Notifications here: {}. Change with /notify all | approvals | none.",
                            describe_level(level)
                        )
                    }
                };
                self.reply(chat, &text).await
            }
            Request::Attach { name } => {
                let Some(name) = self.target(chat, name).await? else {
                    return Ok(());
                };
                let line = match &self.cfg.telegram.ssh_host {
                    Some(h) => format!("<code>ssh -t {} walkie attach {}</code>", escape_html(h), escape_html(&name)),
                    None => format!(
                        "<code>walkie attach {}</code>\n(on this machine; set WALKIE_SSH_HOST to get the ssh line)",
                        escape_html(&name)
                    ),
                };
                self.reply_html(chat, &line, None).await.map(|_| ())
            }
        }
    }

    /// The chat's notification level: its own choice, else the config's default.
    pub(crate) async fn notify_level(&self, chat: i64) -> NotifyLevel {
        walkie_console::desk::notify_level(&self.store, &self.cfg, ChatId(chat)).await
    }

    async fn state_answer(
        &self,
        chat: i64,
        name: &str,
        r: Result<SessionInfo, ClientError>,
    ) -> Result<(), HandleError> {
        match r {
            Ok(info) => {
                self.reply(chat, &format!("{name}: {}", info.state.label()))
                    .await?;
                self.live.ensure(chat, name);
                Ok(())
            }
            Err(e) => self.reply(chat, &host_answer(&e, Some(name))).await,
        }
    }

    async fn new_session(&self, chat: i64, name: String, spec: NewSpec) -> Result<(), HandleError> {
        // What the answer names: the preset's own command, without the hook arguments.
        let (launch, program) = match &spec {
            NewSpec::Default => (Launch::default(), Vec::new()),
            NewSpec::Preset(p) => match presets::expand(&self.cfg, p, &name) {
                Ok(l) => {
                    let program = self.cfg.presets.get(p).map(|p| p.command.clone());
                    (l, program.unwrap_or_default())
                }
                Err(_) => return self.reply(chat, &format!("No preset {p}.")).await,
            },
            NewSpec::Command(c) => (
                Launch {
                    command: c.clone(),
                    ..Launch::default()
                },
                c.clone(),
            ),
        };
        let shown = if program.is_empty() {
            "your shell".to_string()
        } else {
            program.join(" ")
        };
        let Launch { command, cwd, env } = launch;
        let spec = NewSession {
            name: name.clone(),
            command,
            cwd,
            env,
            size: None,
            record: true,
        };
        match self.host.new_session(spec).await {
            Ok(created) => {
                self.store.set_current_session(chat, Some(&created)).await?;
                self.reply(
                    chat,
                    &format!("Started {created} ({shown}); plain text now goes to it."),
                )
                .await?;
                self.live.ensure(chat, &created);
                Ok(())
            }
            Err(e) => self.reply(chat, &host_answer(&e, Some(&name))).await,
        }
    }

    async fn ls(&self, chat: i64) -> Result<(), HandleError> {
        let sessions = match self.host.list().await {
            Ok(s) => s,
            Err(e) => return self.reply(chat, &host_answer(&e, None)).await,
        };
        if sessions.is_empty() {
            return self
                .reply(chat, "No sessions. /new NAME [PRESET] starts one.")
                .await;
        }
        let current = self.store.current_session(chat).await?;
        let mut html = String::new();
        let mut rows = Vec::new();
        for s in &sessions {
            let mark = if current.as_deref() == Some(s.name.as_str()) {
                "▶ "
            } else {
                ""
            };
            let idle = s
                .idle_ms
                .map(|ms| format!(", idle {}s", ms / 1000))
                .unwrap_or_default();
            let cmd = if s.command.is_empty() {
                "shell".to_string()
            } else {
                s.command.join(" ")
            };
            html.push_str(&format!(
                "{mark}<b>{}</b> · {}{} · <code>{}</code>\n",
                escape_html(&s.name),
                escape_html(&s.state.label()),
                idle,
                escape_html(&cmd)
            ));
            rows.push(vec![InlineKeyboardButton::callback(
                format!("use {}", s.name),
                format!("{USE_PREFIX}{}", s.name),
            )]);
        }
        // A long list is cut at its end (its start has the sessions shown first).
        let html = if super::render::utf16_len(&html) > MAX_MESSAGE_UTF16 {
            html.chars()
                .take(3000)
                .collect::<String>()
                .rsplit_once('\n')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default()
        } else {
            html
        };
        rows.truncate(50);
        self.reply_html(chat, &html, Some(InlineKeyboardMarkup::new(rows)))
            .await
            .map(|_| ())
    }

    async fn on_callback(&self, q: CallbackQuery) -> Result<(), HandleError> {
        let user = q.from.id.0 as i64;
        let Some(chat) = q.message.as_ref().map(|m| m.chat().id.0) else {
            return self
                .tg
                .answer_callback(&q.id.0, None)
                .await
                .map_err(Into::into);
        };
        let data = q.data.clone().unwrap_or_default();
        if !self
            .admit(user, chat, Action::Read, &data, "button")
            .await?
        {
            // Refused: answer the press silently so the client stops its spinner.
            return self
                .tg
                .answer_callback(&q.id.0, None)
                .await
                .map_err(Into::into);
        }
        if super::card::is_approval_button(&data) {
            return crate::front::press(&self.desk, &q, chat, &data).await;
        }
        if let Some(name) = data.strip_prefix(USE_PREFIX) {
            match self.host.info(name).await {
                Ok(Some(_)) => {
                    self.store.set_current_session(chat, Some(name)).await?;
                    self.tg
                        .answer_callback(&q.id.0, Some(&format!("Now talking to {name}")))
                        .await?;
                    self.live.ensure(chat, name);
                }
                _ => {
                    self.tg
                        .answer_callback(&q.id.0, Some(&format!("{name} is gone")))
                        .await?;
                }
            }
            return Ok(());
        }
        if let Some((id, action)) = parse_card_data(&data) {
            if self.gate.role(user) != walkie_console::gate::Role::Operator {
                self.audit(AuditEntry {
                    user_id: Some(user),
                    chat_id: Some(chat),
                    action: AuditAction::Refused,
                    source: Some("button".into()),
                    text: Some(data.clone()),
                    detail: Some("viewer pressed a transcript button".into()),
                    ..AuditEntry::default()
                })
                .await;
                self.tg
                    .answer_callback(&q.id.0, Some(walkie_console::gate::VIEWER_TEXT))
                    .await?;
                return Ok(());
            }
            return self.on_card(user, chat, &q.id.0, id, action).await;
        }
        self.tg
            .answer_callback(&q.id.0, Some("This button no longer works."))
            .await?;
        Ok(())
    }

    /// A voice note: download, transcribe, route, then a card (or a dispatch at once).
    async fn on_voice(
        &self,
        user: i64,
        chat: i64,
        message_id: i64,
        v: &teloxide::types::Voice,
    ) -> Result<(), HandleError> {
        let started = std::time::Instant::now();
        self.tg.typing(chat).await;
        if u64::from(v.file.size) > MAX_DOWNLOAD_BYTES {
            return self
                .reply(chat, "That voice note is over 20 MB, more than Telegram lets bots download; send a shorter one.")
                .await;
        }
        let bytes = match self.tg.download(&v.file.id.0).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(chat, error = %e, "voice note download failed");
                let why = if e.text.contains("too big") {
                    "it is over 20 MB"
                } else {
                    "the download failed"
                };
                return self
                    .reply(
                        chat,
                        &format!("Could not get that voice note ({why}); please send it again."),
                    )
                    .await;
            }
        };
        let downloaded = started.elapsed();
        let names: Vec<String> = match self.host.list().await {
            Ok(s) => s.into_iter().map(|s| s.name).collect(),
            Err(_) => Vec::new(),
        };
        let heard = match self.voice.transcribe(bytes, names.clone()).await {
            Ok(t) => {
                let total = started.elapsed();
                tracing::info!(chat, ?downloaded, ?total, "voice note transcribed");
                t
            }
            Err(e) => {
                tracing::warn!(chat, error = %e, "transcription failed");
                return self
                    .reply(chat, &format!("Could not transcribe that voice note: {e}"))
                    .await;
            }
        };
        if heard.is_empty() {
            return self
                .reply(chat, "🎙 Didn't catch that; nothing was sent.")
                .await;
        }
        let (session, text) = match commands::route_spoken(&heard, &names) {
            Some((s, rest)) => (Some(s), rest),
            None => (self.store.current_session(chat).await?, heard),
        };
        let send_now = !self.cfg.voice.confirm && session.is_some();
        let state = if send_now {
            TranscriptState::Sent
        } else {
            TranscriptState::Pending
        };
        let id = self
            .store
            .add_transcript(&NewTranscript {
                chat_id: chat,
                user_id: user,
                voice_message_id: message_id,
                session: session.as_deref(),
                text: &text,
                state,
            })
            .await?;
        let card = if let (true, Some(s)) = (send_now, session.as_deref()) {
            self.dispatch(user, chat, s, &text, "voice").await?;
            self.reply_html(chat, &card_html(session.as_deref(), &text, "sent"), None)
                .await?
        } else {
            self.reply_html(
                chat,
                &card_html(session.as_deref(), &text, ""),
                Some(card_buttons(id)),
            )
            .await?
        };
        let card_id = i64::from(card.id.0);
        self.store.set_transcript_card(id, card_id).await?;
        if let Some(s) = &session {
            self.store.remember_message(chat, card_id, s).await?;
        }
        Ok(())
    }

    /// Edit was pressed and this text arrived: it replaces the transcript.
    async fn replace_transcript(&self, chat: i64, id: i64, text: &str) -> Result<(), HandleError> {
        if !self
            .store
            .transition_transcript(
                id,
                TranscriptState::Editing,
                TranscriptState::Pending,
                Some(text),
            )
            .await?
        {
            return Ok(());
        }
        let Some(t) = self.store.transcript(id).await? else {
            return Ok(());
        };
        let html = card_html(t.session.as_deref(), &t.text, "edited");
        match t.card_message_id.and_then(|c| i32::try_from(c).ok()) {
            Some(card) => {
                self.tg
                    .edit_html(chat, card, &html, Some(card_buttons(id)))
                    .await?
            }
            None => {
                self.reply_html(chat, &html, Some(card_buttons(id))).await?;
            }
        }
        Ok(())
    }

    /// A press of Send, Edit or Cancel on a transcript card.
    async fn on_card(
        &self,
        user: i64,
        chat: i64,
        query: &str,
        id: i64,
        action: CardAction,
    ) -> Result<(), HandleError> {
        let Some(t) = self
            .store
            .transcript(id)
            .await?
            .filter(|t| t.chat_id == chat)
        else {
            self.tg
                .answer_callback(query, Some("This card is gone."))
                .await?;
            return Ok(());
        };
        let card = t.card_message_id.and_then(|c| i32::try_from(c).ok());
        use TranscriptState::*;
        let (answer, status, buttons) = match action {
            CardAction::Send => {
                let session = match t.session.clone() {
                    Some(s) => Some(s),
                    None => self.store.current_session(chat).await?,
                };
                let Some(session) = session else {
                    self.tg
                        .answer_callback(query, Some("No current session: /use NAME first."))
                        .await?;
                    return Ok(());
                };
                // Send while editing sends the transcript as it stands.
                let sent = self
                    .store
                    .transition_transcript(id, Pending, Sent, None)
                    .await?
                    || self
                        .store
                        .transition_transcript(id, Editing, Sent, None)
                        .await?;
                if !sent {
                    self.tg
                        .answer_callback(query, Some("Already handled."))
                        .await?;
                    return Ok(());
                }
                self.dispatch(user, chat, &session, &t.text, "voice")
                    .await?;
                (format!("Sent to {session}"), "sent".to_string(), false)
            }
            CardAction::Edit => {
                if !self
                    .store
                    .transition_transcript(id, Pending, Editing, None)
                    .await?
                {
                    self.tg
                        .answer_callback(query, Some("Already handled."))
                        .await?;
                    return Ok(());
                }
                (
                    "Send the corrected text".into(),
                    "editing: send the corrected text as a message".into(),
                    true,
                )
            }
            CardAction::Cancel => {
                let done = self
                    .store
                    .transition_transcript(id, Pending, Cancelled, None)
                    .await?
                    || self
                        .store
                        .transition_transcript(id, Editing, Cancelled, None)
                        .await?;
                if !done {
                    self.tg
                        .answer_callback(query, Some("Already handled."))
                        .await?;
                    return Ok(());
                }
                ("Cancelled".into(), "cancelled".into(), false)
            }
        };
        self.tg.answer_callback(query, Some(&answer)).await?;
        if let Some(card) = card {
            let session = t.session.as_deref();
            let markup = buttons.then(|| card_buttons(id));
            self.tg
                .edit_html(chat, card, &card_html(session, &t.text, &status), markup)
                .await?;
        }
        Ok(())
    }
}

fn describe_level(level: NotifyLevel) -> &'static str {
    match level {
        NotifyLevel::Approvals => {
            "only approval requests buzz (exits and finished turns arrive silently)"
        }
        NotifyLevel::None => "nothing buzzes (everything arrives silently)",
        NotifyLevel::All => "approval requests, exits and finished turns all buzz",
    }
}
