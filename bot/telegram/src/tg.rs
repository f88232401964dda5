//! Every request the bot makes to Telegram goes through here: paced by the shared
//! [`Pacer`], retried after a 429 for the full `retry_after`, and with errors that never
//! carry the bot token (reqwest puts the request URL, token included, in its errors).

use std::sync::Arc;

use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, Message, MessageId, ParseMode, ReplyParameters};
use teloxide::{ApiError, RequestError};

use super::pace::{Pacer, Scope};

/// How many 429s in a row a single request waits out before giving up.
const MAX_RETRIES: usize = 5;

/// The Telegram side of the bot: the client, the pacer and the token to hide.
#[derive(Clone)]
pub(crate) struct Tg {
    pub(crate) bot: Bot,
    pub(crate) pacer: Arc<Pacer>,
    token: Arc<str>,
}

/// A Telegram request error, its text already free of the token.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub(crate) struct TgError {
    pub(crate) text: String,
    pub(crate) api: Option<ApiError>,
    /// A 429 that was not retried (only from single attempts).
    pub(crate) retry_after: Option<std::time::Duration>,
}

impl TgError {
    pub(crate) fn is(&self, e: &ApiError) -> bool {
        self.api.as_ref() == Some(e)
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
        }
    }

    pub(crate) fn error(&self, e: RequestError) -> TgError {
        let text = redact(&e, &self.token);
        match e {
            RequestError::Api(api) => TgError {
                text,
                api: Some(api),
                retry_after: None,
            },
            RequestError::RetryAfter(s) => TgError {
                text,
                api: None,
                retry_after: Some(s.duration()),
            },
            _ => TgError {
                text,
                api: None,
                retry_after: None,
            },
        }
    }

    /// Runs `make()`'s request in `chat`'s budget, waiting out 429s.
    async fn paced<T, F, Fut>(&self, chat: Option<i64>, mut make: F) -> Result<T, TgError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RequestError>>,
    {
        let mut attempt = 0;
        loop {
            self.pacer.acquire(chat).await;
            match make().await {
                Err(RequestError::RetryAfter(s)) if attempt < MAX_RETRIES => {
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

    /// Sends an HTML message, optionally with buttons and as a reply.
    pub(crate) async fn send_html(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
        reply_to: Option<i32>,
    ) -> Result<Message, TgError> {
        self.send_html_with(chat, html, markup, reply_to, false)
            .await
    }

    /// Sends HTML with optional buttons; `silent` sends it without a notification sound
    /// (a chat's `/notify` level decides).
    pub(crate) async fn send_card(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
        silent: bool,
    ) -> Result<Message, TgError> {
        self.send_html_with(chat, html, markup, None, silent).await
    }

    /// Sends an HTML message without a notification sound (auto-approvals: worth a
    /// line in the chat, not a buzz).
    pub(crate) async fn send_html_silent(&self, chat: i64, html: &str) -> Result<Message, TgError> {
        self.send_html_with(chat, html, None, None, true).await
    }

    /// The one paced HTML send behind the helpers above.
    async fn send_html_with(
        &self,
        chat: i64,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
        reply_to: Option<i32>,
        silent: bool,
    ) -> Result<Message, TgError> {
        self.paced(Some(chat), || {
            let mut req = self
                .bot
                .send_message(ChatId(chat), html)
                .parse_mode(ParseMode::Html);
            if silent {
                req = req.disable_notification(true);
            }
            if let Some(m) = &markup {
                req = req.reply_markup(m.clone());
            }
            if let Some(r) = reply_to {
                req = req.reply_parameters(
                    ReplyParameters::new(MessageId(r)).allow_sending_without_reply(),
                );
            }
            req.send()
        })
        .await
    }

    /// Sends plain text (no parse mode: nothing in it needs escaping).
    pub(crate) async fn send_text(&self, chat: i64, text: &str) -> Result<Message, TgError> {
        self.paced(Some(chat), || {
            self.bot.send_message(ChatId(chat), text).send()
        })
        .await
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
        self.edit_request(chat, message_id, html, markup.as_ref())
            .send()
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
        self.bot
            .send_message(ChatId(chat), html)
            .parse_mode(ParseMode::Html)
            .disable_notification(silent)
            .await
            .map_err(|e| self.error(e))
    }

    /// An edit, paced and retried after 429s; "not modified" counts as done.
    pub(crate) async fn edit_html(
        &self,
        chat: i64,
        message_id: i32,
        html: &str,
        markup: Option<InlineKeyboardMarkup>,
    ) -> Result<(), TgError> {
        let r = self
            .paced(Some(chat), || {
                self.edit_request(chat, message_id, html, markup.as_ref())
                    .send()
            })
            .await;
        match r {
            Err(e) if e.is(&ApiError::MessageNotModified) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Shows "typing…" while the bot works on something (not counted against the chat).
    pub(crate) async fn typing(&self, chat: i64) {
        let r = self
            .paced(None, || {
                self.bot
                    .send_chat_action(ChatId(chat), teloxide::types::ChatAction::Typing)
                    .send()
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
                self.bot
                    .get_file(teloxide::types::FileId(file_id.to_string()))
                    .send()
            })
            .await?;
        let mut buf = Vec::new();
        teloxide::net::Download::download_file(&self.bot, &file.path, &mut buf)
            .await
            .map_err(|e| TgError {
                text: redact(&e, &self.token),
                api: None,
                retry_after: None,
            })?;
        Ok(buf)
    }

    pub(crate) async fn delete(&self, chat: i64, message_id: i32) -> Result<(), TgError> {
        self.paced(Some(chat), || {
            self.bot
                .delete_message(ChatId(chat), MessageId(message_id))
                .send()
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
            req.send()
        })
        .await
        .map(|_| ())
    }
}
