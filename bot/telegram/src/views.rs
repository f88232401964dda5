//! The console's answers ([`View`]) as Telegram messages: plain text, or HTML with an
//! inline keyboard (the `/ls` buttons, whose presses come back as `use:NAME`; the directory
//! buttons of `/new`, as `dir:CHOICE:INDEX`).

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide::utils::command::BotCommands;
use walkie_console::requests::View;
use walkie_host_proto::protocol::SessionInfo;

use crate::commands::Command;
use crate::render::MAX_MESSAGE_UTF16;
use crate::render::{escape_html, fit_bottom, render_live, trim_screen, utf16_len};

/// Callback data of the /ls buttons: `use:NAME` (at most 36 bytes, under Telegram's 64).
pub(crate) const USE_PREFIX: &str = "use:";

/// Callback data of the directory buttons of `/new NAME PRESET`: `dir:CHOICE:INDEX`.
pub(crate) const DIR_PREFIX: &str = "dir:";

/// Callback data of a boundary card's widen buttons: `bw:d:NAME:DOMAIN` (allow a domain),
/// `bw:o:NAME` (open network), `bw:e:NAME` (edit boundary: how to restart).
pub(crate) const BOUNDARY_PREFIX: &str = "bw:";
pub(crate) const SESSION_SEP: char = ':';
/// Telegram's limit on a button's callback data.
const MAX_CALLBACK_BYTES: usize = 64;

/// A view as Telegram sends it.
pub(crate) enum Rendered {
    Text(String),
    Html(String, Option<InlineKeyboardMarkup>),
}

pub(crate) fn render(view: &View) -> Rendered {
    match view {
        View::Text(t) => Rendered::Text(t.clone()),
        View::Help => {
            let help = Command::descriptions().to_string();
            let extra = "\n\nPlain text goes to the current session; `name: text` to another one; \
                         replying to a session's message goes to that session.";
            Rendered::Text(format!("{help}{extra}"))
        }
        View::Screen { session, screen } => Rendered::Html(
            render_live(
                Some(&format!("<b>{}</b>", escape_html(session))),
                utf16_len(session),
                screen,
            ),
            None,
        ),
        View::Tail { text, .. } => {
            let text = trim_screen(text);
            let body = if text.is_empty() {
                "(no output yet)".to_string()
            } else {
                text
            };
            let body = fit_bottom(&body, MAX_MESSAGE_UTF16 - 1);
            Rendered::Html(format!("<pre>{}</pre>", escape_html(&body)), None)
        }
        View::Sessions { sessions, current } => {
            let (html, markup) = sessions_html(sessions, current.as_deref());
            Rendered::Html(html, Some(markup))
        }
        View::Attach { session, ssh_host } => {
            let line = match ssh_host {
                Some(h) => format!(
                    "<code>ssh -t {} walkie attach {}</code>",
                    escape_html(h),
                    escape_html(session)
                ),
                None => format!(
                    "<code>walkie attach {}</code>\n(on this machine; set WALKIE_SSH_HOST to get the ssh line)",
                    escape_html(session)
                ),
            };
            Rendered::Html(line, None)
        }
        View::Dirs {
            session,
            preset,
            choice,
            labels,
        } => {
            let rows: Vec<Vec<InlineKeyboardButton>> = labels
                .iter()
                .enumerate()
                .map(|(i, label)| {
                    vec![InlineKeyboardButton::callback(
                        format!("📁 {label}"),
                        format!("{DIR_PREFIX}{choice}:{i}"),
                    )]
                })
                .collect();
            let (name, preset) = (escape_html(session), escape_html(preset));
            let html = format!(
                "📁 Where should <b>{name}</b> ({preset}) run? Or send <code>/new {name} {preset} DIR</code>."
            );
            Rendered::Html(html, Some(InlineKeyboardMarkup::new(rows)))
        }
        View::Boundary(b) => {
            let (html, markup) = boundary_html(b);
            Rendered::Html(html, Some(markup))
        }
    }
}

/// The boundary card: the console's lines, bold labels, and its widen buttons (a domain too
/// long for a button's 64 bytes gets none; `/boundary` still names it).
fn boundary_html(b: &walkie_host_proto::sandbox::BoundaryInfo) -> (String, InlineKeyboardMarkup) {
    use walkie_console::boundary::{self, Widen};
    let icon = if b.enforced { "🛡" } else { "⚠️" };
    let mut html = format!("{icon} <b>{}</b>: boundary\n", escape_html(&b.session));
    for (label, value) in boundary::lines(b) {
        html.push_str(&format!(
            "<b>{}</b>: {}\n",
            escape_html(label),
            escape_html(&value)
        ));
    }
    let html = fit_bottom(&html, MAX_MESSAGE_UTF16 - 1);
    let name = &b.session;
    let rows: Vec<Vec<InlineKeyboardButton>> = boundary::buttons(b)
        .into_iter()
        .filter_map(|(label, widen)| {
            let data = match widen {
                Widen::AllowDomain(d) => {
                    format!("{BOUNDARY_PREFIX}d{SESSION_SEP}{name}{SESSION_SEP}{d}")
                }
                Widen::OpenNetwork => format!("{BOUNDARY_PREFIX}o{SESSION_SEP}{name}"),
                Widen::EditBoundary => format!("{BOUNDARY_PREFIX}e{SESSION_SEP}{name}"),
            };
            (data.len() <= MAX_CALLBACK_BYTES)
                .then(|| vec![InlineKeyboardButton::callback(label, data)])
        })
        .collect();
    (html, InlineKeyboardMarkup::new(rows))
}

/// The `/ls` list: one line per session (the current one marked) and a `use` button each.
fn sessions_html(
    sessions: &[SessionInfo],
    current: Option<&str>,
) -> (String, InlineKeyboardMarkup) {
    let mut html = String::new();
    let mut rows = Vec::new();
    for s in sessions {
        let mark = if current == Some(s.name.as_str()) {
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
    let html = if utf16_len(&html) > MAX_MESSAGE_UTF16 {
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
    (html, InlineKeyboardMarkup::new(rows))
}
