//! Voice notes on Telegram: the transcript card (the transcription queue is the console's,
//! [`walkie_console::voice`]).
//!
//! A transcript becomes a card
//! "🎙 → NAME: text" with Send / Edit / Cancel buttons (or is sent at once with
//! `voice.confirm = false`); the card's state lives in SQLite, so its buttons survive a
//! restart, and the callback data is only an id (`t:ID:s`), far under Telegram's 64 bytes.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::render::{escape_html, utf16_len, MAX_MESSAGE_UTF16};

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

/// The card's text: "🎙 → NAME: text", then a status line. A transcript too long for one
/// message shows its start and end around a line saying how much is left out; Send types
/// the whole text, which the store keeps.
pub(crate) fn card_html(session: Option<&str>, text: &str, status: &str) -> String {
    let (target, target_len) = match session {
        Some(s) => (format!("<b>{}</b>", escape_html(s)), utf16_len(s)),
        None => {
            let t = "(no session: /use NAME first)";
            (t.to_string(), utf16_len(t))
        }
    };
    // What Telegram counts besides the transcript: "🎙 → ", ": ", "\n" and the status.
    let around = utf16_len("🎙 → : \n") + target_len + utf16_len(status);
    let text = fit_middle(text, MAX_MESSAGE_UTF16.saturating_sub(around));
    let mut html = format!("🎙 → {target}: {}", escape_html(&text));
    if !status.is_empty() {
        html.push_str("\n<i>");
        html.push_str(&escape_html(status));
        html.push_str("</i>");
    }
    html
}

/// The card of transcript `id` could not be shown: the chat is told (what was heard is
/// not silently gone), and a card nobody can press is cancelled.
pub(crate) async fn card_failed(
    app: &crate::app::App,
    chat: i64,
    id: i64,
    sent_to: Option<&str>,
    e: crate::app::HandleError,
) -> Result<(), crate::app::HandleError> {
    tracing::warn!(chat, transcript = id, error = %e, "cannot show a transcript card");
    let what = match sent_to {
        Some(s) => format!("it was sent to {s}"),
        None => {
            app.store
                .transition_transcript(
                    id,
                    walkie_console::store::TranscriptState::Pending,
                    walkie_console::store::TranscriptState::Cancelled,
                    None,
                )
                .await?;
            "nothing was sent; please send it again".to_string()
        }
    };
    let text = format!("⚠️ Could not show the card of that voice note ({e}); {what}.");
    app.tg.send_text(chat, &text).await?;
    Ok(())
}

/// `text` within `budget` UTF-16 units: itself, or its start and end around a line
/// saying how many characters are left out.
fn fit_middle(text: &str, budget: usize) -> std::borrow::Cow<'_, str> {
    if utf16_len(text) <= budget {
        return text.into();
    }
    let chars: Vec<char> = text.chars().collect();
    // Room for the note: its number has at most 20 digits.
    let note = |n: usize| format!("\n[… {n} characters not shown here; Send types them all …]\n");
    let room = budget.saturating_sub(utf16_len(&note(usize::MAX)));
    // Two thirds for the start (what was asked), the rest for the end (how it ends).
    let (mut head, mut used) = (0, 0);
    while head < chars.len() && used + chars[head].len_utf16() <= room * 2 / 3 {
        used += chars[head].len_utf16();
        head += 1;
    }
    let mut tail = chars.len();
    while tail > head && used + chars[tail - 1].len_utf16() <= room {
        used += chars[tail - 1].len_utf16();
        tail -= 1;
    }
    let start: String = chars[..head].iter().collect();
    let end: String = chars[tail..].iter().collect();
    format!("{start}{}{end}", note(tail - head)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_transcript_fits_one_message_with_its_start_and_end() {
        let text: String = (0..900).map(|i| format!("word{i} ")).collect();
        assert!(utf16_len(&text) > MAX_MESSAGE_UTF16);
        for status in ["", "sent", "editing: send the corrected text as a message"] {
            let html = card_html(Some("api"), &text, status);
            // Visible length: tags do not count, and nothing here needs escaping.
            let visible = html
                .replace("<b>", "")
                .replace("</b>", "")
                .replace("<i>", "")
                .replace("</i>", "");
            let n = utf16_len(&visible);
            assert!(n <= MAX_MESSAGE_UTF16 && n > MAX_MESSAGE_UTF16 - 100, "{n}");
            assert!(
                visible.contains("word0 word1 ") && visible.contains("word899"),
                "{visible}"
            );
            assert!(visible.contains("characters not shown here; Send types them all"));
        }
        // Wide characters count twice, as Telegram counts them.
        let emoji = "🎉".repeat(3000);
        let html = card_html(None, &emoji, "");
        assert!(
            utf16_len(&html) <= MAX_MESSAGE_UTF16,
            "{}",
            utf16_len(&html)
        );
        // A short one is left alone.
        assert_eq!(fit_middle("short", 10), "short");
    }

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
