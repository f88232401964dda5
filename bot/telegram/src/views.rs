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

/// Callback data of a host-key card: `hostkey:t:HOST` (Trust) and `hostkey:r:HOST` (Reject),
/// at most 42 bytes.
pub(crate) const HOSTKEY_PREFIX: &str = "hostkey:";

/// Callback data of the Cancel button of a queued item: `outbox:c:ID`.
pub(crate) const OUTBOX_PREFIX: &str = "outbox:";

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
        View::Sessions {
            sessions,
            current,
            hosts,
        } => {
            let (html, markup) = sessions_html(sessions, current.as_deref(), hosts);
            Rendered::Html(html, Some(markup))
        }
        View::HostKey {
            host,
            address,
            key_type,
            fingerprint,
            old,
        } => host_key_html(host, address, key_type, fingerprint, old),
        View::Queued { id, line } => Rendered::Html(
            escape_html(line),
            Some(InlineKeyboardMarkup::new(vec![vec![
                InlineKeyboardButton::callback("✖ Cancel", format!("{OUTBOX_PREFIX}c:{id}")),
            ]])),
        ),
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
    }
}

/// One host's part of `/ls`: its `(name, state)` (`None`: this machine) and sessions.
type Group<'a> = (Option<&'a (String, String)>, Vec<&'a SessionInfo>);

/// The `/ls` list: one line per session (the current one marked) and a `use` button each.
fn sessions_html(
    sessions: &[SessionInfo],
    current: Option<&str>,
    hosts: &[(String, String)],
) -> (String, InlineKeyboardMarkup) {
    let mut html = String::new();
    let mut rows = Vec::new();
    // With remote hosts: this machine's sessions under its header, then each host's.
    let host_of = |s: &SessionInfo| s.name.split_once('@').map(|(_, h)| h.to_string());
    let mut groups: Vec<Group<'_>> = Vec::new();
    if hosts.is_empty() {
        groups.push((None, sessions.iter().collect()));
    } else {
        groups.push((
            None,
            sessions.iter().filter(|s| host_of(s).is_none()).collect(),
        ));
        for h in hosts {
            let mine = sessions
                .iter()
                .filter(|s| host_of(s).as_deref() == Some(h.0.as_str()))
                .collect();
            groups.push((Some(h), mine));
        }
    }
    for (host, group) in groups {
        if !hosts.is_empty() {
            let (name, state) = match host {
                Some((n, st)) => (format!("☁️ {n}"), st.clone()),
                None => ("🖥 local".to_string(), "this machine".to_string()),
            };
            html.push_str(&format!(
                "<b>{}</b> · {}\n",
                escape_html(&name),
                escape_html(&state)
            ));
            if group.is_empty() {
                html.push_str("  (no sessions)\n");
            }
        }
        sessions_lines(&group, current, &mut html, &mut rows);
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

/// One line and one `use` button per session.
fn sessions_lines(
    sessions: &[&SessionInfo],
    current: Option<&str>,
    html: &mut String,
    rows: &mut Vec<Vec<InlineKeyboardButton>>,
) {
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
}

/// A host-key card: first contact with Trust / Reject, or a changed key as a hard stop.
fn host_key_html(
    host: &str,
    address: &str,
    key_type: &str,
    fingerprint: &str,
    old: &[String],
) -> Rendered {
    let (h, a) = (escape_html(host), escape_html(address));
    let (t, f) = (escape_html(key_type), escape_html(fingerprint));
    if old.is_empty() {
        let html = format!(
            "🔑 <b>{h}</b> ({a}) presents a host key walkie does not know yet:\n\
             <code>{t}</code>\n<code>{f}</code>\n\
             Compare it with the box's own (<code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> there). \
             Nothing is sent to {h} until you trust it."
        );
        let buttons = InlineKeyboardMarkup::new(vec![vec![
            InlineKeyboardButton::callback("✅ Trust", format!("{HOSTKEY_PREFIX}t:{host}")),
            InlineKeyboardButton::callback("⛔ Reject", format!("{HOSTKEY_PREFIX}r:{host}")),
        ]]);
        Rendered::Html(html, Some(buttons))
    } else {
        let known: Vec<String> = old
            .iter()
            .map(|o| format!("<code>{}</code>", escape_html(o)))
            .collect();
        let html = format!(
            "⛔ The host key of <b>{h}</b> ({a}) CHANGED.\nNow: <code>{t}</code> <code>{f}</code>\n\
             Known: {}\nNothing is sent to {h}. If the box was really re-keyed, run \
             <code>walkie hosts trust {h}</code> on this machine; otherwise someone may be in between.",
            known.join(", ")
        );
        Rendered::Html(html, None)
    }
}
