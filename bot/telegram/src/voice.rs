//! Voice notes on Telegram: the transcript card (the transcription queue is the console's,
//! [`walkie_console::voice`]).
//!
//! A transcript becomes a card
//! "🎙 → NAME: text" with Send / Edit / Cancel buttons (or is sent at once with
//! `voice.confirm = false`); the card's state lives in SQLite, so its buttons survive a
//! restart, and the callback data is only an id (`t:ID:s`), far under Telegram's 64 bytes.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::render::escape_html;

/// Telegram lets bots download files up to 20 MB.
pub(crate) const MAX_DOWNLOAD_BYTES: u64 = 20 * 1024 * 1024;

/// Callback data prefix of transcript card buttons.
pub(crate) const CARD_PREFIX: &str = "t:";

/// A transcript card button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardAction {
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
pub(crate) fn parse_card_data(data: &str) -> Option<(i64, CardAction)> {
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
pub(crate) fn card_buttons(id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("Send", card_data(id, CardAction::Send)),
        InlineKeyboardButton::callback("Edit", card_data(id, CardAction::Edit)),
        InlineKeyboardButton::callback("Cancel", card_data(id, CardAction::Cancel)),
    ]])
}

/// The card's text: "🎙 → NAME: text", then a status line.
pub(crate) fn card_html(session: Option<&str>, text: &str, status: &str) -> String {
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
