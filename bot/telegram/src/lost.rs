//! Sessions lost with their host (it crashed, or was killed): each chat watching them is
//! told which, in one message with a Revive button per session, and their live screens
//! say so in the header instead of going on showing "running".
//!
//! A live screen's watcher sees the loss either way the host went: the host it reaches is
//! a new one that lists the session as lost, or no host answers at all (nothing may start
//! one, under systemd). Watchers of one chat see it at slightly different times, so the
//! reports of a chat are gathered for a moment and sent as one message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use walkie_console::front::{ChatId, UserId};
use walkie_console::gate::{Role, VIEWER_TEXT};
use walkie_console::session::SessionRef;
use walkie_console::store::{AuditAction, AuditEntry};
use walkie_host_proto::client::ClientError;
use walkie_host_proto::protocol::ErrorKind;

use crate::app::{App, HandleError};
use crate::render::escape_html;
use crate::tg::Tg;

/// Callback data of a Revive button: `revive:NAME` (names are short: under Telegram's 64).
pub(crate) const REVIVE_PREFIX: &str = "revive:";

/// How long the reports of one chat are gathered before its message goes: longer than a
/// live screen's idle look ([`crate::live::IDLE_LOOK`]), since with screens pushed an idle
/// screen notices its host is gone only at its next look, up to that much after a busy one.
const GATHER: Duration = crate::live::IDLE_LOOK.saturating_add(Duration::from_millis(1500));

/// Failed looks in a row, with no host to be reached, before a watcher calls its session
/// lost (one could be a host restarting on purpose).
pub(crate) const GONE_AFTER: u32 = 2;

/// How long a watcher that saw its session lost waits for the host to bring it back before
/// the chat is told: a host restarted by systemd revives what it can within a moment of its
/// start (20 sessions in well under a second, docs/PERFORMANCE.md), and a session it
/// revives must not get a "lost" notice.
pub(crate) const REVIVAL_GRACE: Duration = Duration::from_secs(8);

/// What a live screen's header says of a lost session.
pub(crate) const LOST_LABEL: &str = "lost (the session host stopped)";

/// Did the call fail because no host runs (rather than a slow or busy one)?
pub(crate) fn host_gone(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::NotRunning(_) | ClientError::Connect { .. } | ClientError::Spawn(_)
    )
}

/// Could the call have failed because the host died under it (or is no more)?
pub(crate) fn host_may_be_gone(e: &ClientError) -> bool {
    host_gone(e) || matches!(e, ClientError::Closed | ClientError::Frame(_))
}

/// The lost sessions waiting to be told, per chat.
pub(crate) struct LostReports {
    tg: Tg,
    pending: Mutex<HashMap<i64, Vec<String>>>,
}

impl LostReports {
    pub(crate) fn new(tg: Tg) -> Arc<Self> {
        Arc::new(LostReports {
            tg,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// `session`, watched in `chat`, is lost; the chat hears of it shortly.
    pub(crate) fn report(self: &Arc<Self>, chat: i64, session: &str) {
        let first = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let list = p.entry(chat).or_default();
            if list.iter().any(|s| s == session) {
                return;
            }
            list.push(session.to_string());
            list.len() == 1
        };
        if first {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(GATHER).await;
                this.tell(chat).await;
            });
        }
    }

    async fn tell(&self, chat: i64) {
        let sessions = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.remove(&chat).unwrap_or_default()
        };
        if sessions.is_empty() {
            return;
        }
        let names: Vec<String> = sessions
            .iter()
            .map(|s| format!("<b>{}</b>", escape_html(s)))
            .collect();
        let html = format!(
            "⚠️ The session host stopped; lost: {}. Revive starts a session again (same command and directory; what it was doing is gone).",
            names.join(", ")
        );
        let rows: Vec<Vec<InlineKeyboardButton>> = sessions
            .iter()
            .map(|s| {
                vec![InlineKeyboardButton::callback(
                    format!("Revive {s}"),
                    format!("{REVIVE_PREFIX}{s}"),
                )]
            })
            .collect();
        if let Err(e) = self
            .tg
            .send_html(chat, &html, Some(InlineKeyboardMarkup::new(rows)), None)
            .await
        {
            tracing::warn!(chat, error = %e, "cannot tell a chat its sessions were lost");
        }
    }
}

/// A press of Revive: operators only; the host starts the session again and its live
/// screen comes back.
pub(crate) async fn on_revive(
    app: &App,
    user: i64,
    chat: i64,
    query: &str,
    name: &str,
) -> Result<(), HandleError> {
    if app.gate.role(UserId(user)) != Role::Operator {
        let entry = AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            action: AuditAction::Refused,
            source: Some("button".into()),
            text: Some(format!("{REVIVE_PREFIX}{name}")),
            detail: Some("viewer pressed Revive".into()),
            ..AuditEntry::default()
        };
        if let Err(e) = app.store.audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
        app.tg.answer_callback(query, Some(VIEWER_TEXT)).await?;
        return Ok(());
    }
    match app.host.revive(name).await {
        Ok(revived) => {
            let entry = AuditEntry {
                user_id: Some(UserId(user)),
                chat_id: Some(ChatId(chat)),
                session: Some(SessionRef::address(&revived)),
                action: AuditAction::Command,
                source: Some("button".into()),
                text: Some(format!("revive {revived}")),
                ..AuditEntry::default()
            };
            if let Err(e) = app.store.audit(&entry).await {
                tracing::error!(error = %e, "cannot write the audit log");
            }
            tracing::info!(user, chat, session = revived, "revived");
            app.tg
                .answer_callback(query, Some(&format!("Revived {revived}")))
                .await?;
            app.live.ensure(chat, &revived);
        }
        // Revived meanwhile (the host brings back what it can when it starts): say so, and
        // show its screen again, rather than "Cannot revive: it is running".
        Err(ClientError::Host {
            kind: ErrorKind::StillRunning,
            ..
        }) => {
            app.tg
                .answer_callback(query, Some(&format!("{name} is running again")))
                .await?;
            app.live.ensure(chat, name);
        }
        Err(e) => {
            // A toast holds 200 characters.
            let why: String = format!("Cannot revive {name}: {e}")
                .chars()
                .take(200)
                .collect();
            app.tg.answer_callback(query, Some(&why)).await?;
        }
    }
    Ok(())
}
