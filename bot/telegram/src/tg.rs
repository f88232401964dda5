//! Every request the bot makes to Telegram goes through here: paced by the shared
//! [`Pacer`], retried after a 429 for the full `retry_after`, and with errors that never
//! carry the bot token (reqwest puts the request URL, token included, in its errors).
//!
//! Messages that matter are delivered, not just sent: after a transient failure (no
//! answer, a cut answer, a 5xx, an HTML error page) they are tried again with backoff
//! for up to [`DELIVER_FOR`]; an error Telegram means (a 400 such as "chat not found", a
//! 403) is final at once. [`Tg::send_card`] retries in place (its callers need the message,
//! and run beside the update loop); [`Tg::send_text`] and [`Tg::edit_html`] try once in
//! place and leave the retries to a task of their own, so that the update loop never
//! waits on one chat. A background edit gives way to a newer edit of the same message.
//! Files go the same way ([`Tg::deliver_document`] from the update loop, [`Tg::send_document`]
//! in place for a live picture's task); the chat is told when one finally cannot be sent.
//! A send whose answer was lost may have been posted: the retry can then make a second
//! copy (at least once, never silence).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::prelude::*;
use teloxide::requests::{HasPayload, Payload};
use teloxide::types::{InlineKeyboardMarkup, Message, MessageId, ParseMode, ReplyParameters};
use teloxide::{ApiError, RequestError};

use super::pace::{Pacer, Scope};
use super::raw::{self, CallError};

/// How many 429s in a row a single request waits out before giving up.
const MAX_RETRIES: usize = 5;

/// How long a message that matters is tried again after transient failures.
pub(crate) const DELIVER_FOR: Duration = Duration::from_secs(180);

/// The first wait before trying a message again, doubled after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The longest wait between two tries of a message.
const MAX_RETRY_GAP: Duration = Duration::from_secs(15);

/// The Telegram side of the bot: the client, the pacer and the token to hide.
#[derive(Clone)]
pub(crate) struct Tg {
    pub(crate) bot: Bot,
    pub(crate) pacer: Arc<Pacer>,
    token: Arc<str>,
    /// The newest edit of each message still being delivered: an older edit's retries
    /// stop when a newer one is asked for.
    edits: Arc<Mutex<HashMap<(i64, i32), u64>>>,
}

/// Numbers the edits, for [`Tg::edits`].
static EDIT_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Deliveries retried in the background at most at once: past this (an outage while a
/// flood of strangers is refused), a failed reply or edit is given up, and logged.
const MAX_BACKGROUND: usize = 256;

static BACKGROUND: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_BACKGROUND`] places, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        if BACKGROUND.fetch_add(1, Ordering::SeqCst) >= MAX_BACKGROUND {
            BACKGROUND.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("too many deliveries retried at once; this one is given up");
            return None;
        }
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        BACKGROUND.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A Telegram request error, its text already free of the token.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub(crate) struct TgError {
    pub(crate) text: String,
    pub(crate) api: Option<ApiError>,
    /// A 429 that was not retried (only from single attempts).
    pub(crate) retry_after: Option<std::time::Duration>,
    /// Worth trying again: Telegram did not answer, cut its answer, failed itself (5xx,
    /// an HTML error page), or asked to wait.
    pub(crate) transient: bool,
}

impl TgError {
    pub(crate) fn is(&self, e: &ApiError) -> bool {
        self.api.as_ref() == Some(e)
    }
}

/// A keyboard as the JSON text of a form field.
fn json(markup: &InlineKeyboardMarkup) -> String {
    serde_json::to_string(markup).unwrap_or_default()
}

/// The form fields and the file of a sendDocument call.
fn document_request(
    chat: i64,
    file: &walkie_console::requests::Document,
    markup: Option<&InlineKeyboardMarkup>,
) -> (Vec<(&'static str, String)>, raw::Upload) {
    let mut fields = vec![
        ("chat_id", chat.to_string()),
        ("caption", file.caption.clone()),
    ];
    if let Some(m) = markup {
        fields.push(("reply_markup", json(m)));
    }
    let upload = raw::Upload {
        field: "document",
        file_name: file.file_name.clone(),
        mime: mime(&file.file_name),
        bytes: file.bytes.clone(),
    };
    (fields, upload)
}

/// The MIME type of an upload, by its file name's extension.
fn mime(file_name: &str) -> &'static str {
    match file_name.rsplit('.').next() {
        Some("png") => "image/png",
        // asciinema's own type for .cast files
        Some("cast") => "application/x-asciicast",
        _ => "application/octet-stream",
    }
}

/// Formats `e` without the token.
pub(crate) fn redact(e: &dyn std::fmt::Display, token: &str) -> String {
    let text = e.to_string();
    if token.is_empty() {
        text
    } else {
        text.replace(token, "<token>")
    }
}

impl Tg {
    pub(crate) fn new(bot: Bot, pacer: Arc<Pacer>, token: &str) -> Self {
        Tg {
            bot,
            pacer,
            token: token.into(),
            edits: Arc::default(),
        }
    }

    pub(crate) fn error(&self, e: CallError) -> TgError {
        let text = redact(&e.error, &self.token);
        let transient = e.server;
        match e.error {
            RequestError::Api(api) => TgError {
                text,
                api: Some(api),
                retry_after: None,
                transient,
            },
            RequestError::RetryAfter(s) => TgError {
                text,
                api: None,
                retry_after: Some(s.duration()),
                transient: true,
            },
            RequestError::Network(_) | RequestError::InvalidJson { .. } | RequestError::Io(_) => {
                TgError {
                    text,
                    api: None,
                    retry_after: None,
                    transient: true,
                }
            }
            RequestError::MigrateToChatId(_) => TgError {
                text,
                api: None,
                retry_after: None,
                transient,
            },
        }
    }

    /// One call of a teloxide request, through our own client ([`raw`]).
    async fn call<R>(&self, req: R) -> Result<<R::Payload as Payload>::Output, CallError>
    where
        R: HasPayload,
        R::Payload: serde::Serialize,
        <R::Payload as Payload>::Output: serde::de::DeserializeOwned,
    {
        raw::call(&self.bot, &req).await
    }

    /// Runs `make()`'s request in `chat`'s budget, waiting out 429s.
    async fn paced<T, F, Fut>(&self, chat: Option<i64>, mut make: F) -> Result<T, TgError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CallError>>,
    {
        let mut attempt = 0;
        loop {
            self.pacer.acquire(chat).await;
            match make().await {
                Err(CallError {
                    error: RequestError::RetryAfter(s),
                    ..
                }) if attempt < MAX_RETRIES => {
                    attempt += 1;
                    let scope = chat.map_or(Scope::Global, Scope::Chat);
                    tracing::warn!(?scope, retry_after = ?s.duration(), "Telegram asked to slow down");
                    self.pacer.retry_after(scope, s.duration());
                }
                Err(e) => return Err(self.error(e)),
                Ok(v) => return Ok(v),
            }
        }
    }

    /// [`Tg::paced`], tried again after transient failures for up to [`DELIVER_FOR`].
    async fn delivered<T, F, Fut>(&self, chat: i64, what: &str, mut make: F) -> Result<T, TgError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CallError>>,
    {
        let started = tokio::time::Instant::now();
        let mut gap = FIRST_RETRY;
        loop {
            match self.paced(Some(chat), &mut make).await {
                Err(e) if e.transient && started.elapsed() + gap < DELIVER_FOR => {
                    tracing::warn!(chat, what, error = %e, retry_in = ?gap, "Telegram did not take it; trying again");
                    tokio::time::sleep(gap).await;
                    gap = (gap * 2).min(MAX_RETRY_GAP);
                }
                Err(e) => {
                    tracing::error!(chat, what, error = %e, "not delivered");
                    return Err(e);
                }
                Ok(v) => return Ok(v),
            }
        }
    }

    /// Sends an HTML message, optionally with buttons and as a reply (one try, 429s waited out).
    pub(crate) async fn send_html(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
        reply_to: Option<i32>,
    ) -> Result<Message, TgError> {
        self.paced(Some(chat), || {
            self.call(self.html_request(chat, html, markup.as_ref(), reply_to, false))
        })
        .await
    }

    /// Delivers a message that matters (a card, a notice) in HTML with optional buttons,
    /// retried in place; `silent` sends it without a notification sound (a chat's
    /// `/notify` level decides).
    pub(crate) async fn send_card(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
        silent: bool,
    ) -> Result<Message, TgError> {
        self.delivered(chat, "message", || {
            self.call(self.html_request(chat, html, markup.as_ref(), None, silent))
        })
        .await
    }

    /// A sendMessage request in HTML.
    fn html_request(
        &self,
        chat: i64,
        html: &str,
        markup: Option<&InlineKeyboardMarkup>,
        reply_to: Option<i32>,
        silent: bool,
    ) -> teloxide::requests::JsonRequest<teloxide::payloads::SendMessage> {
        let mut req = self
            .bot
            .send_message(ChatId(chat), html)
            .parse_mode(ParseMode::Html);
        if silent {
            req = req.disable_notification(true);
        }
        if let Some(m) = markup {
            req = req.reply_markup(m.clone());
        }
        if let Some(r) = reply_to {
            req = req
                .reply_parameters(ReplyParameters::new(MessageId(r)).allow_sending_without_reply());
        }
        req
    }

    /// Sends plain text (no parse mode: nothing in it needs escaping), one try (429s waited
    /// out), for answers whose message is needed.
    pub(crate) async fn send_plain(&self, chat: i64, text: &str) -> Result<Message, TgError> {
        let req = self.bot.send_message(ChatId(chat), text);
        self.paced(Some(chat), || self.call(req.clone())).await
    }

    /// Sends plain text (no parse mode: nothing in it needs escaping). Tried once here;
    /// after a transient failure it is delivered by a task of its own (the caller, often
    /// the update loop, goes on).
    pub(crate) async fn send_text(&self, chat: i64, text: &str) -> Result<(), TgError> {
        let req = self.bot.send_message(ChatId(chat), text);
        match self.paced(Some(chat), || self.call(req.clone())).await {
            Err(e) if e.transient => {
                let Some(slot) = Slot::take() else {
                    return Err(e);
                };
                tracing::warn!(chat, error = %e, "a reply failed; delivering it in the background");
                let this = self.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::time::sleep(FIRST_RETRY).await;
                    let _ = this
                        .delivered(chat, "reply", || this.call(req.clone()))
                        .await;
                });
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// An HTML edit request (with its buttons, or none: an edit without markup removes them).
    fn edit_request(
        &self,
        chat: i64,
        message_id: i32,
        html: &str,
        markup: Option<&InlineKeyboardMarkup>,
    ) -> teloxide::requests::JsonRequest<teloxide::payloads::EditMessageText> {
        let req = self
            .bot
            .edit_message_text(ChatId(chat), MessageId(message_id), html)
            .parse_mode(ParseMode::Html);
        match markup {
            Some(m) => req.reply_markup(m.clone()),
            None => req,
        }
    }

    /// One attempt at an HTML edit (live screens handle 429 themselves, to coalesce).
    pub(crate) async fn edit_html_once(
        &self,
        chat: i64,
        message_id: i32,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
    ) -> Result<(), TgError> {
        self.call(self.edit_request(chat, message_id, html, markup.as_ref()))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// One attempt at an HTML send (see [`Tg::edit_html_once`]).
    pub(crate) async fn send_html_once(
        &self,
        chat: i64,
        html: &str,
        silent: bool,
    ) -> Result<Message, TgError> {
        self.call(self.html_request(chat, html, None, None, silent))
            .await
            .map_err(|e| self.error(e))
    }

    /// An edit that matters (a card's outcome), paced, 429s waited out; "not modified"
    /// counts as done (an earlier try whose answer was lost did it). Tried once here;
    /// after a transient failure it is delivered by a task of its own, unless a newer
    /// edit of the same message comes first.
    pub(crate) async fn edit_html(
        &self,
        chat: i64,
        message_id: i32,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
    ) -> Result<(), TgError> {
        let serial = EDIT_SERIAL.fetch_add(1, Ordering::Relaxed);
        let key = (chat, message_id);
        self.lock_edits().insert(key, serial);
        let req = self.edit_request(chat, message_id, html, markup.as_ref());
        match self.edit_once(key, serial, &req).await {
            Err(e) if e.transient => {
                let Some(slot) = Slot::take() else {
                    return Err(e);
                };
                tracing::warn!(chat, message_id, error = %e, "an edit failed; delivering it in the background");
                let this = self.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let started = tokio::time::Instant::now();
                    let mut gap = FIRST_RETRY;
                    loop {
                        tokio::time::sleep(gap).await;
                        if this.lock_edits().get(&key) != Some(&serial) {
                            tracing::debug!(chat, message_id, "a newer edit replaced this one");
                            return;
                        }
                        match this.edit_once(key, serial, &req).await {
                            Err(e) if e.transient && started.elapsed() + gap < DELIVER_FOR => {
                                tracing::warn!(chat, message_id, error = %e, retry_in = ?gap, "edit failed again");
                                gap = (gap * 2).min(MAX_RETRY_GAP);
                            }
                            Err(e) => {
                                tracing::error!(chat, message_id, error = %e, "edit not delivered");
                                return;
                            }
                            Ok(()) => return,
                        }
                    }
                });
                Ok(())
            }
            r => r,
        }
    }

    fn lock_edits(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, i32), u64>> {
        // A map of numbers; every critical section leaves it consistent.
        self.edits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One paced try of edit `serial` of message `key`; done or failed for good, it stops
    /// being the message's pending edit.
    async fn edit_once(
        &self,
        key: (i64, i32),
        serial: u64,
        req: &teloxide::requests::JsonRequest<teloxide::payloads::EditMessageText>,
    ) -> Result<(), TgError> {
        let r = match self.paced(Some(key.0), || self.call(req.clone())).await {
            Err(e) if e.is(&ApiError::MessageNotModified) => Ok(()),
            r => r.map(|_| ()),
        };
        if !r.as_ref().is_err_and(|e| e.transient) {
            let mut edits = self.lock_edits();
            if edits.get(&key) == Some(&serial) {
                edits.remove(&key);
            }
        }
        r
    }

    /// Shows "typing…" while the bot works on something (not counted against the chat).
    pub(crate) async fn typing(&self, chat: i64) {
        let r = self
            .paced(None, || {
                self.call(
                    self.bot
                        .send_chat_action(ChatId(chat), teloxide::types::ChatAction::Typing),
                )
            })
            .await;
        if let Err(e) = r {
            tracing::debug!(error = %e, "chat action not shown");
        }
    }

    /// Downloads a file (getFile, then the file itself).
    pub(crate) async fn download(&self, file_id: &str) -> Result<Vec<u8>, TgError> {
        let file = self
            .paced(None, || {
                self.call(
                    self.bot
                        .get_file(teloxide::types::FileId(file_id.to_string())),
                )
            })
            .await?;
        let mut buf = Vec::new();
        teloxide::net::Download::download_file(&self.bot, &file.path, &mut buf)
            .await
            .map_err(|e| TgError {
                text: redact(&e, &self.token),
                api: None,
                retry_after: None,
                transient: true,
            })?;
        Ok(buf)
    }

    /// One paced try at sending `file` as a document (a file kept byte for byte), with its
    /// caption and optional buttons; 429s waited out.
    async fn send_document_once(
        &self,
        chat: i64,
        file: &walkie_console::requests::Document,
        markup: Option<&InlineKeyboardMarkup>,
    ) -> Result<Message, TgError> {
        let (fields, upload) = document_request(chat, file, markup);
        self.paced(Some(chat), || {
            raw::upload(&self.bot, "sendDocument", &fields, &upload)
        })
        .await
    }

    /// Delivers `file` as a document, like a card: tried again in place after transient
    /// failures (no answer, a cut answer, 5xx; 429s waited out) with the cards' backoff
    /// for up to [`DELIVER_FOR`], final at once on any other API error. For callers that
    /// run beside the update loop (a live picture's task).
    pub(crate) async fn send_document(
        &self,
        chat: i64,
        file: &walkie_console::requests::Document,
        markup: Option<&InlineKeyboardMarkup>,
    ) -> Result<Message, TgError> {
        let (fields, upload) = document_request(chat, file, markup);
        self.delivered(chat, "document", || {
            raw::upload(&self.bot, "sendDocument", &fields, &upload)
        })
        .await
    }

    /// Delivers `file` as a document for the update loop (`/shot`, `/replay`): tried once
    /// here; after a transient failure, delivered with the cards' backoff by a task of its
    /// own (`Ok(None)`), so the loop goes on. When it finally cannot be sent (an API error,
    /// or transient failures for [`DELIVER_FOR`]) the chat is told. A send whose answer was
    /// lost may have been posted: the retry can then leave a second copy (at least once).
    pub(crate) async fn deliver_document(
        &self,
        chat: i64,
        file: &walkie_console::requests::Document,
    ) -> Result<Option<Message>, TgError> {
        match self.send_document_once(chat, file, None).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.transient => {
                let Some(slot) = Slot::take() else {
                    self.not_sent(chat, &file.file_name, &e).await;
                    return Err(e);
                };
                tracing::warn!(chat, file = %file.file_name, error = %e, "a document failed; delivering it in the background");
                let this = self.clone();
                let file = file.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::time::sleep(FIRST_RETRY).await;
                    if let Err(e) = this.send_document(chat, &file, None).await {
                        this.not_sent(chat, &file.file_name, &e).await;
                    }
                });
                Ok(None)
            }
            Err(e) => {
                tracing::error!(chat, file = %file.file_name, error = %e, "document not delivered");
                self.not_sent(chat, &file.file_name, &e).await;
                Err(e)
            }
        }
    }

    /// Tells `chat` that a file could not be sent (the text itself delivered like a reply).
    pub(crate) async fn not_sent(&self, chat: i64, what: &str, e: &TgError) {
        let text = format!("⚠️ {what} could not be sent: {e}");
        if let Err(e) = self.send_text(chat, &text).await {
            tracing::warn!(chat, error = %e, "could not say that a file was not sent");
        }
    }

    /// One try (in the chat's budget) at replacing a document message's file and caption
    /// (editMessageMedia), with `markup` as its buttons; a 429 is the caller's to wait out.
    pub(crate) async fn edit_document_once(
        &self,
        chat: i64,
        message_id: i32,
        file: &walkie_console::requests::Document,
        markup: Option<&InlineKeyboardMarkup>,
    ) -> Result<(), TgError> {
        let media = serde_json::json!({
            "type": "document",
            "media": "attach://picture",
            "caption": file.caption,
        });
        let mut fields = vec![
            ("chat_id", chat.to_string()),
            ("message_id", message_id.to_string()),
            ("media", media.to_string()),
        ];
        if let Some(m) = markup {
            fields.push(("reply_markup", json(m)));
        }
        let upload = raw::Upload {
            field: "picture",
            file_name: file.file_name.clone(),
            mime: mime(&file.file_name),
            bytes: file.bytes.clone(),
        };
        self.pacer.acquire(Some(chat)).await;
        raw::upload::<Message>(&self.bot, "editMessageMedia", &fields, &upload)
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// A document message's caption changed and its buttons removed (paced, 429s waited
    /// out; "not modified" counts as done).
    pub(crate) async fn edit_caption(
        &self,
        chat: i64,
        message_id: i32,
        caption: &str,
    ) -> Result<(), TgError> {
        let req = teloxide::payloads::EditMessageCaptionSetters::caption(
            self.bot
                .edit_message_caption(ChatId(chat), MessageId(message_id)),
            caption,
        );
        match self.paced(Some(chat), || self.call(req.clone())).await {
            Err(e) if e.is(&ApiError::MessageNotModified) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    pub(crate) async fn delete(&self, chat: i64, message_id: i32) -> Result<(), TgError> {
        self.paced(Some(chat), || {
            self.call(self.bot.delete_message(ChatId(chat), MessageId(message_id)))
        })
        .await
        .map(|_| ())
    }

    /// Answers a button press (its small toast); not counted against the chat.
    pub(crate) async fn answer_callback(
        &self,
        id: &str,
        text: Option<&str>,
    ) -> Result<(), TgError> {
        self.paced(None, || {
            let mut req = self.bot.answer_callback_query(id.to_string().into());
            if let Some(t) = text {
                req = teloxide::payloads::AnswerCallbackQuerySetters::text(req, t);
            }
            self.call(req)
        })
        .await
        .map(|_| ())
    }
}
