//! Voice notes: download, local transcription, and the transcript card.
//!
//! The whisper model is loaded on the first voice note (verifying and loading it takes a
//! moment, and a bot that is only typed to never needs it). A transcript becomes a card
//! "🎙 → NAME: text" with Send / Edit / Cancel buttons (or is sent at once with
//! `voice.confirm = false`); the card's state lives in SQLite, so its buttons survive a
//! restart, and the callback data is only an id (`t:ID:s`), far under Telegram's 64 bytes.

use std::sync::Arc;

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use tokio::sync::OnceCell;
use walkie_config::Config;
use walkie_transcription::{model, Input, Options, Queue, Settings, TranscribeError, Transcriber};

use super::render::escape_html;

/// Telegram lets bots download files up to 20 MB.
pub const MAX_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// Callback data prefix of transcript card buttons.
pub const CARD_PREFIX: &str = "t:";

/// A transcript card button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Send,
    Edit,
    Cancel,
}

impl CardAction {
    fn code(self) -> char {
        match self {
            CardAction::Send => 's',
            CardAction::Edit => 'e',
            CardAction::Cancel => 'c',
        }
    }
}

/// `t:ID:s` → (ID, Send).
pub fn parse_card_data(data: &str) -> Option<(i64, CardAction)> {
    let rest = data.strip_prefix(CARD_PREFIX)?;
    let (id, code) = rest.split_once(':')?;
    let action = match code {
        "s" => CardAction::Send,
        "e" => CardAction::Edit,
        "c" => CardAction::Cancel,
        _ => return None,
    };
    Some((id.parse().ok()?, action))
}

fn card_data(id: i64, a: CardAction) -> String {
    format!("{CARD_PREFIX}{id}:{}", a.code())
}

/// The Send / Edit / Cancel buttons of transcript `id`.
pub fn card_buttons(id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("Send", card_data(id, CardAction::Send)),
        InlineKeyboardButton::callback("Edit", card_data(id, CardAction::Edit)),
        InlineKeyboardButton::callback("Cancel", card_data(id, CardAction::Cancel)),
    ]])
}

/// The card's text: "🎙 → NAME: text", then a status line.
pub fn card_html(session: Option<&str>, text: &str, status: &str) -> String {
    let target = match session {
        Some(s) => format!("<b>{}</b>", escape_html(s)),
        None => "(no session: /use NAME first)".into(),
    };
    let mut html = format!("🎙 → {target}: {}", escape_html(text));
    if !status.is_empty() {
        html.push_str("\n<i>");
        html.push_str(&escape_html(status));
        html.push_str("</i>");
    }
    html
}

/// The transcription side of the bot.
pub struct Voice {
    cfg: Config,
    queue: OnceCell<Arc<Queue>>,
}

impl Voice {
    pub fn new(cfg: Config) -> Self {
        Voice {
            cfg,
            queue: OnceCell::new(),
        }
    }

    /// Loads the model on first use (a failed load is retried on the next note).
    async fn queue(&self) -> Result<Arc<Queue>, TranscribeError> {
        self.queue
            .get_or_try_init(|| async {
                let t = &self.cfg.transcription;
                let models = self.cfg.data_dir().join("models");
                let (path, _) = model::find_model(None, t.model.as_deref(), &models)?;
                let settings = Settings {
                    threads: usize::from(t.threads),
                    max_duration_s: t.max_duration_s,
                    beam_size: u32::from(t.beam_size),
                };
                let concurrency = usize::from(t.concurrency);
                tokio::task::spawn_blocking(move || {
                    let tr = Transcriber::load(&path, settings)?;
                    tracing::info!(model = %path.display(), load = ?tr.load_time(), "whisper model loaded");
                    Ok(Arc::new(Queue::new(Arc::new(tr), concurrency)))
                })
                .await
                .unwrap_or_else(|e| Err(TranscribeError::Whisper(format!("model loading panicked: {e}"))))
            })
            .await
            .cloned()
    }

    /// Transcribes an in-memory voice note; a note whose leading words name one of
    /// `vocabulary` (the session names) comes back as `name: rest`, matched after
    /// transcription so no prompt costs the short encoder window.
    pub async fn transcribe(
        &self,
        bytes: Vec<u8>,
        vocabulary: Vec<String>,
    ) -> Result<String, TranscribeError> {
        let queue = self.queue().await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let opts = Options {
            names: vocabulary,
            ..Options::default()
        };
        queue.submit_with(Input::Bytes(bytes), opts, move |r| {
            let _ = tx.send(r);
        });
        let t = rx.await.unwrap_or(Err(TranscribeError::QueueClosed))?;
        Ok(t.text.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_data_round_trips_and_fits_telegram() {
        for a in [CardAction::Send, CardAction::Edit, CardAction::Cancel] {
            let d = card_data(i64::MAX, a);
            assert!(d.len() <= 64, "{d}");
            assert_eq!(parse_card_data(&d), Some((i64::MAX, a)));
        }
        assert_eq!(parse_card_data("t:x:s"), None);
        assert_eq!(parse_card_data("use:x"), None);
        assert_eq!(parse_card_data("t:1:z"), None);
    }

    #[test]
    fn card_escapes_what_was_heard() {
        let html = card_html(Some("api"), "echo <hi> & bye", "sent");
        assert_eq!(
            html,
            "🎙 → <b>api</b>: echo &lt;hi&gt; &amp; bye\n<i>sent</i>"
        );
        assert!(card_html(None, "x", "").contains("/use NAME"));
    }
}
