//! Handling of one Telegram update: who sent it, what it asks, and the answer.
//!
//! Every update passes the [`Gate`] first; refusals are audited (and strangers answered
//! at most once an hour). Allowed messages become console requests
//! ([`walkie_console::requests`]): commands (parsed in [`crate::commands`], audited
//! here), or text for a session, routed there. Voice notes, transcript cards and button
//! presses are handled here.

mod boundary;
mod buttons;
mod dashboard;
mod dirs;
mod hostkey;
mod outbox;
mod pictures;
mod schedule;

use std::sync::Arc;

use teloxide::types::{CallbackQuery, InlineKeyboardMarkup, Message, Update, UpdateKind};

use super::commands::{self, Usage};
use super::context::Context;
use super::tg::TgError;
use super::voice::{card_buttons, card_html, parse_card_data, CardAction, MAX_DOWNLOAD_BYTES};
use walkie_console::front::{ChatId, MessageRef, UserId};
use walkie_console::gate::{Action, Verdict};
use walkie_console::host::Host;
use walkie_console::requests::{text, Request};
use walkie_console::session::SessionRef;
use walkie_console::store::{AuditAction, AuditEntry, NewTranscript, TranscriptState};
use walkie_console::voice::Voice;

/// The update handler: the shared context, and what only it needs.
pub(crate) struct App {
    pub(crate) ctx: Arc<Context>,
    /// The approval desk (cards and their buttons), built once beside the app.
    pub(crate) desk: Arc<crate::front::TelegramDesk>,
    /// The console's request handlers, with Telegram in front.
    pub(crate) console: Arc<crate::front::TelegramConsole>,
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
    #[error(transparent)]
    Request(#[from] walkie_console::requests::RequestError),
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
        let last = match self.gate.role(UserId(user)) {
            walkie_console::gate::Role::Stranger => {
                self.store.stranger_refused(UserId(user)).await?
            }
            _ => None,
        };
        match self.gate.check(UserId(user), action, last) {
            Verdict::Allow => Ok(true),
            Verdict::Refuse { reply } => {
                self.audit(AuditEntry {
                    user_id: Some(UserId(user)),
                    chat_id: Some(ChatId(chat)),
                    action: AuditAction::Refused,
                    source: Some(source.into()),
                    text: Some(what.into()),
                    detail: Some(format!(
                        "{:?}; {}",
                        self.gate.role(UserId(user)),
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
                    if self.gate.role(UserId(user)) == walkie_console::gate::Role::Stranger {
                        self.store.stranger_answered(UserId(user)).await?;
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

    /// A transcript card, delivered (retried after transient failures: voice notes are
    /// handled beside the update loop, so the retries hold up no other chat).
    async fn voice_card(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
    ) -> Result<Message, HandleError> {
        let m = self.tg.send_card(chat, html, markup, false).await?;
        self.live.saw_message(chat);
        Ok(m)
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
                Ok(Some(r)) => r.action(),
                _ => Action::Read,
            };
            if !self.admit(user, chat, action, text, "text").await? {
                return Ok(());
            }
            return match parsed {
                Ok(Some(req)) => {
                    self.audit(AuditEntry {
                        user_id: Some(UserId(user)),
                        chat_id: Some(ChatId(chat)),
                        action: AuditAction::Command,
                        source: Some("text".into()),
                        text: Some(text.into()),
                        ..AuditEntry::default()
                    })
                    .await;
                    self.request(user, chat, req).await
                }
                Ok(None) => Ok(()),
                Err(Usage(u)) => self.reply(chat, &u).await,
            };
        }
        if !self.admit(user, chat, Action::Act, text, "text").await? {
            return Ok(());
        }
        if let Some(id) = self.store.editing_transcript(ChatId(chat)).await? {
            return self.replace_transcript(chat, id, text).await;
        }
        let reply_to = m.reply_to_message().map(|r| MessageRef(i64::from(r.id.0)));
        let text = text.to_string();
        self.request(user, chat, Request::Text { text, reply_to })
            .await
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
        let (user, chat) = (UserId(user), ChatId(chat));
        Ok(text::dispatch(&self.console, user, chat, session, text, source).await?)
    }

    /// The name of the chat's current session.
    async fn current_session(&self, chat: i64) -> Result<Option<String>, HandleError> {
        let current = self.store.current_session(ChatId(chat)).await?;
        Ok(current.map(|s| s.to_string()))
    }

    /// Hands a request to the console.
    async fn request(&self, user: i64, chat: i64, req: Request) -> Result<(), HandleError> {
        Ok(self.console.handle(UserId(user), ChatId(chat), req).await?)
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
        let press = buttons::Press {
            user,
            chat,
            q: &q,
            data: &data,
        };
        if let Some(done) = self.on_button(&press).await {
            return done;
        }
        self.no_longer_works(&press).await
    }

    /// A press of a transcript card's button (`t:ID:ACTION`; operators only, checked
    /// before).
    async fn transcript_pressed(&self, p: &buttons::Press<'_>) -> Result<(), HandleError> {
        let Some((id, action)) = parse_card_data(p.data) else {
            return self.no_longer_works(p).await;
        };
        self.on_card(p, id, action).await
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
        // "typing…" goes beside the work, not before it: a round trip less on every note.
        let tg = self.tg.clone();
        tokio::spawn(async move { tg.typing(chat).await });
        if u64::from(v.file.size) > MAX_DOWNLOAD_BYTES {
            return self
                .reply(chat, "That voice note is over 20 MB, more than Telegram lets bots download; send a shorter one.")
                .await;
        }
        // The session names (for routing and name matching) are asked of the host while the
        // note downloads.
        let (bytes, listed) = tokio::join!(self.tg.download(&v.file.id.0), self.host.list());
        let bytes = match bytes {
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
        let names: Vec<String> = match listed {
            Ok(s) => s.into_iter().map(|s| s.name).collect(),
            Err(_) => Vec::new(),
        };
        // Every host's sessions, remote ones by bare name or spoken address ("api at cloud").
        let spoken = walkie_console::requests::text::spoken_names(&names);
        let vocabulary: Vec<String> = spoken.iter().map(|(f, _)| f.clone()).collect();
        let heard = match self.voice.transcribe(bytes, vocabulary).await {
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
        if let Some(done) = self.spoken_job(user, chat, &heard).await {
            return done;
        }
        let (session, text) = match commands::route_voice(&heard, &spoken) {
            Some((s, rest)) => (Some(s), rest),
            None => (self.current_session(chat).await?, heard),
        };
        let send_now = !self.cfg.voice.confirm && session.is_some();
        let state = if send_now {
            TranscriptState::Sent
        } else {
            TranscriptState::Pending
        };
        // A remote session by its address (`api@cloud`), which routes back to its host.
        let session_ref = session.as_deref().map(SessionRef::address);
        let id = self
            .store
            .add_transcript(&NewTranscript {
                chat_id: ChatId(chat),
                user_id: UserId(user),
                voice_message_id: MessageRef(message_id),
                session: session_ref.as_ref(),
                text: &text,
                state,
            })
            .await?;
        let card = if let (true, Some(s)) = (send_now, session.as_deref()) {
            self.dispatch(user, chat, s, &text, "voice").await?;
            self.voice_card(chat, &card_html(session.as_deref(), &text, "sent"), None)
                .await
        } else {
            self.voice_card(
                chat,
                &card_html(session.as_deref(), &text, ""),
                Some(card_buttons(id)),
            )
            .await
        };
        let card = match card {
            Ok(c) => c,
            Err(e) => {
                let sent_to = session.as_deref().filter(|_| send_now);
                return crate::voice::card_failed(self, chat, id, sent_to, e).await;
            }
        };
        let card_id = i64::from(card.id.0);
        self.store
            .set_transcript_card(id, MessageRef(card_id))
            .await?;
        if let Some(s) = &session {
            let (chat, card) = (ChatId(chat), MessageRef(card_id));
            self.store
                .remember_message(chat, card, &SessionRef::address(s))
                .await?;
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
        let html = card_html(
            t.session.as_ref().map(|s| s.to_string()).as_deref(),
            &t.text,
            "edited",
        );
        match t.card_message_id.and_then(|c| i32::try_from(c.0).ok()) {
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
        p: &buttons::Press<'_>,
        id: i64,
        action: CardAction,
    ) -> Result<(), HandleError> {
        let (user, chat, query) = (p.user, p.chat, p.id());
        let Some(t) = self
            .store
            .transcript(id)
            .await?
            .filter(|t| t.chat_id == ChatId(chat))
        else {
            self.tg
                .answer_callback(query, Some("This card is gone."))
                .await?;
            return Ok(());
        };
        // A press can come before the card's id is stored (it is stored after Telegram
        // answered the send): the pressed message is the card then.
        let card = t
            .card_message_id
            .and_then(|c| i32::try_from(c.0).ok())
            .or_else(|| p.message());
        use TranscriptState::*;
        let (answer, status, buttons) = match action {
            CardAction::Send => {
                let session = match t.session.clone().map(|s| s.to_string()) {
                    Some(s) => Some(s),
                    None => self.current_session(chat).await?,
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
            let session = t.session.as_ref().map(|s| s.to_string());
            let session = session.as_deref();
            let markup = buttons.then(|| card_buttons(id));
            self.tg
                .edit_html(chat, card, &card_html(session, &t.text, &status), markup)
                .await?;
        }
        Ok(())
    }
}
