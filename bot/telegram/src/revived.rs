//! The revival message on Telegram: the console's [`RevivalNote`] as HTML, with a row per
//! session: its screen (the `/ls` button, which makes it the chat's current session and shows
//! its live screen) and a kill button (`rk:NAME`, operators only).

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use walkie_console::front::{ChatId, UserId};
use walkie_console::gate::Role;
use walkie_console::host::Host;
use walkie_console::revival::RevivalNote;
use walkie_console::session::SessionRef;
use walkie_console::store::{AuditAction, AuditEntry};

use crate::app::{App, HandleError};
use crate::render::escape_html;

/// A kill button's `callback_data` prefix.
pub(crate) const KILL_PREFIX: &str = "rk:";

/// The message's HTML and, with `buttons`, its keyboard.
pub(crate) fn render(
    note: &RevivalNote,
    buttons: bool,
    use_prefix: &str,
) -> (String, Option<InlineKeyboardMarkup>) {
    let html = note
        .lines
        .iter()
        .map(|l| escape_html(l))
        .collect::<Vec<_>>()
        .join("\n");
    if !buttons || note.sessions.is_empty() {
        return (html, None);
    }
    let rows = note.sessions.iter().take(50).map(|name| {
        vec![
            InlineKeyboardButton::callback(format!("🖥 {name}"), format!("{use_prefix}{name}")),
            InlineKeyboardButton::callback(
                format!("✖ kill {name}"),
                format!("{KILL_PREFIX}{name}"),
            ),
        ]
    });
    (html, Some(InlineKeyboardMarkup::new(rows)))
}

/// A press of a kill button: operators only; the session gets SIGHUP and SIGTERM (then
/// SIGKILL after the grace period), as `/kill` does.
pub(crate) async fn kill_pressed(
    app: &App,
    user: i64,
    chat: i64,
    press: &str,
    name: &str,
) -> Result<(), HandleError> {
    if app.gate.role(walkie_console::front::UserId(user)) != Role::Operator {
        app.tg
            .answer_callback(press, Some(walkie_console::gate::VIEWER_TEXT))
            .await?;
        return Ok(());
    }
    let toast = match app.host.kill(name).await {
        Ok(info) => format!("{name}: {}", info.state.label()),
        Err(e) => format!("{name}: {e}"),
    };
    if let Err(e) = app
        .store
        .audit(&AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            session: Some(SessionRef::address(name)),
            action: AuditAction::Command,
            source: Some("button".into()),
            text: Some("kill".into()),
            detail: None,
        })
        .await
    {
        tracing::error!(error = %e, "cannot write the audit log");
    }
    app.tg.answer_callback(press, Some(&toast)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_session_and_escaped_text() {
        let note = RevivalNote {
            lines: vec!["♻️ revived after restart: a<b (claude, resumed)".into()],
            sessions: vec!["api".into(), "web".into()],
        };
        let (html, kb) = render(&note, true, "use:");
        assert!(html.contains("a&lt;b"), "{html}");
        let kb = kb.expect("buttons");
        assert_eq!(kb.inline_keyboard.len(), 2);
        let data: Vec<String> = kb.inline_keyboard[1]
            .iter()
            .map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => d.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(data, ["use:web", "rk:web"]);
        assert!(render(&note, false, "use:").1.is_none());
    }
}
