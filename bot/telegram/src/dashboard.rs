//! The dashboard: one compact message per chat for its busy background sessions.
//!
//! Telegram allows about one edit a second per chat. With ten live screens busy in one chat,
//! ten messages share that second and every one of them lags. So when more than
//! [`DASH_AFTER`] live screens of a chat are busy (their screen changed within
//! [`BUSY_FOR`]), the busy ones other than the chat's focus stop editing their own message
//! and show their last [`DASH_LINES`] lines in the chat's dashboard instead: one message,
//! edited as one, inside the chat's budget, beside the focus's own live screen. Each session
//! on it has a button (`dash:NAME`) that makes it the chat's focus: it then leaves the
//! dashboard and gets its own live screen back at once.
//!
//! A session leaves the dashboard when it has been quiet for [`BUSY_FOR`], becomes the
//! focus, or ends; its own message then gets its latest state, so every final state lands
//! where it belongs. The dashboard's message id is kept in memory: after a restart of the
//! bot a new one is posted.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use tokio::time::Instant;

use crate::render::{escape_html, utf16_len, MAX_MESSAGE_UTF16};

/// `callback_data` of a dashboard button: `dash:NAME` makes NAME the chat's focus.
pub(crate) const DASH_PREFIX: &str = "dash:";

/// More busy live screens than this in one chat send the background ones to the dashboard.
pub(crate) const DASH_AFTER: usize = 2;

/// A live screen is busy while its screen changed within this.
pub(crate) const BUSY_FOR: Duration = Duration::from_secs(10);

/// Lines of each session on the dashboard (its last non-blank ones).
pub(crate) const DASH_LINES: usize = 3;

/// Characters of a line on the dashboard (its start; the rest is cut with `…`).
const LINE_CHARS: usize = 100;

/// Telegram's limit on `callback_data`, in bytes.
const MAX_CALLBACK: usize = 64;

/// When each live screen of each chat last changed.
#[derive(Default)]
pub(crate) struct Busy {
    at: HashMap<(i64, String), Instant>,
}

impl Busy {
    pub(crate) fn changed(&mut self, chat: i64, session: &str, now: Instant) {
        self.at.insert((chat, session.to_string()), now);
    }

    pub(crate) fn forget(&mut self, chat: i64, session: &str) {
        self.at.remove(&(chat, session.to_string()));
    }

    fn is(&self, chat: i64, session: &str, now: Instant) -> bool {
        self.at
            .get(&(chat, session.to_string()))
            .is_some_and(|at| now.saturating_duration_since(*at) < BUSY_FOR)
    }

    fn count(&self, chat: i64, now: Instant) -> usize {
        self.at
            .iter()
            .filter(|((c, _), at)| *c == chat && now.saturating_duration_since(**at) < BUSY_FOR)
            .count()
    }

    /// Whether `session`'s live screen in `chat` shows on the dashboard now: it is busy, not
    /// the focus, and more than [`DASH_AFTER`] of the chat's live screens are busy.
    pub(crate) fn on_dashboard(
        &self,
        chat: i64,
        session: &str,
        focused: bool,
        now: Instant,
    ) -> bool {
        !focused && self.is(chat, session, now) && self.count(chat, now) > DASH_AFTER
    }
}

/// The last [`DASH_LINES`] non-blank lines of a screen, each cut to [`LINE_CHARS`].
pub(crate) fn last_lines(screen: &str) -> String {
    let lines: Vec<&str> = screen
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let from = lines.len().saturating_sub(DASH_LINES);
    lines[from..]
        .iter()
        .map(|l| match l.char_indices().nth(LINE_CHARS) {
            Some((at, _)) => format!("{}…", &l[..at]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the dashboard shows: its HTML and the sessions it has buttons for.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DashView {
    pub(crate) html: String,
    pub(crate) names: Vec<String>,
}

const TITLE: &str = "📋 Busy in the background";
const EMPTY: &str = "📋 No busy background sessions.";

/// The dashboard of `rows` (session → its last lines), within one message: sessions that
/// do not fit are named on a last line.
pub(crate) fn render(rows: &BTreeMap<String, String>) -> DashView {
    if rows.is_empty() {
        return DashView {
            html: EMPTY.to_string(),
            names: Vec::new(),
        };
    }
    let mut html = format!("<b>{TITLE}</b>");
    let mut used = utf16_len(TITLE);
    let mut names = Vec::new();
    let mut left_out = Vec::new();
    // Room kept for the line naming the sessions that did not fit.
    let reserve = 200;
    for (name, lines) in rows {
        let cost = utf16_len(name) + utf16_len(lines) + 4;
        if used + cost + reserve > MAX_MESSAGE_UTF16 {
            left_out.push(name.as_str());
            continue;
        }
        used += cost;
        html.push_str(&format!(
            "\n<b>{}</b>\n<pre>{}</pre>",
            escape_html(name),
            escape_html(lines)
        ));
        names.push(name.clone());
    }
    if !left_out.is_empty() {
        let mut more = format!("and {} more: {}", left_out.len(), left_out.join(", "));
        if let Some((at, _)) = more.char_indices().nth(reserve - 10) {
            more.truncate(at);
            more.push('…');
        }
        html.push_str(&format!("\n{}", escape_html(&more)));
    }
    DashView { html, names }
}

/// One button per session shown, two to a row; a name too long for `callback_data` gets none.
pub(crate) fn keyboard(names: &[String]) -> InlineKeyboardMarkup {
    let buttons: Vec<InlineKeyboardButton> = names
        .iter()
        .filter(|n| DASH_PREFIX.len() + n.len() <= MAX_CALLBACK)
        .map(|n| InlineKeyboardButton::callback(format!("📺 {n}"), format!("{DASH_PREFIX}{n}")))
        .collect();
    InlineKeyboardMarkup::new(buttons.chunks(2).map(|c| c.to_vec()).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn background_sessions_go_to_the_dashboard_only_when_more_than_two_are_busy() {
        let mut b = Busy::default();
        let t0 = Instant::now();
        b.changed(1, "a", t0);
        b.changed(1, "b", t0);
        assert!(
            !b.on_dashboard(1, "a", false, t0),
            "two busy: each keeps its own screen"
        );
        b.changed(1, "c", t0);
        // Another chat's screens do not count.
        b.changed(2, "x", t0);
        assert!(b.on_dashboard(1, "a", false, t0));
        assert!(b.on_dashboard(1, "b", false, t0));
        assert!(
            !b.on_dashboard(1, "c", true, t0),
            "the focus keeps its own live screen"
        );
        assert!(!b.on_dashboard(2, "x", false, t0));
        // Quiet for BUSY_FOR: back to its own message (with its final state).
        let later = t0 + BUSY_FOR;
        b.changed(1, "b", later);
        b.changed(1, "c", later);
        b.changed(1, "d", later);
        assert!(!b.on_dashboard(1, "a", false, later));
        assert!(b.on_dashboard(1, "b", false, later));
        b.forget(1, "d");
        assert!(
            !b.on_dashboard(1, "b", false, later),
            "an ended screen does not count"
        );
    }

    #[test]
    fn the_dashboard_shows_each_sessions_last_lines_and_a_button_each() {
        assert_eq!(last_lines("a\n\nb\nc   \nd\n\n\n"), "b\nc\nd");
        let long = "x".repeat(150);
        assert_eq!(last_lines(&long).chars().count(), LINE_CHARS + 1);
        let mut rows = BTreeMap::new();
        rows.insert("api".to_string(), "T=1 <ok>".to_string());
        rows.insert("web".to_string(), "building…".to_string());
        let v = render(&rows);
        assert!(v.html.starts_with("<b>📋"), "{}", v.html);
        assert!(
            v.html.contains("<b>api</b>\n<pre>T=1 &lt;ok&gt;</pre>"),
            "{}",
            v.html
        );
        assert_eq!(v.names, ["api", "web"]);
        let k = keyboard(&v.names);
        assert_eq!(k.inline_keyboard.len(), 1);
        assert_eq!(k.inline_keyboard[0].len(), 2);
        assert_eq!(render(&BTreeMap::new()).html, EMPTY);
        assert!(render(&BTreeMap::new()).names.is_empty());
    }

    #[test]
    fn a_dashboard_too_long_for_one_message_names_the_rest() {
        let mut rows = BTreeMap::new();
        for i in 0..40 {
            let lines = (0..3)
                .map(|_| "y".repeat(99))
                .collect::<Vec<_>>()
                .join("\n");
            rows.insert(format!("s{i:02}"), lines);
        }
        let v = render(&rows);
        assert!(v.names.len() < 40 && !v.names.is_empty());
        assert!(v.html.contains(&format!("and {} more", 40 - v.names.len())));
    }
}
