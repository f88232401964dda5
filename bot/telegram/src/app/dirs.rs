//! The press of a directory button of `/new NAME PRESET` (the console offered the choice,
//! `walkie_console::workdir`): taken once, answered, the choice message edited to what was
//! chosen, then the `/new` runs with that directory.

use std::path::PathBuf;

use walkie_console::front::{ChatId, UserId};
use walkie_console::requests::{NewSpec, Request, SandboxChoice};
use walkie_console::store::{AuditAction, AuditEntry};
use walkie_console::workdir;

use super::buttons::Press;
use super::{App, HandleError};
use crate::render::escape_html;

impl App {
    /// Refuses (audited, answered) the press of a button that acts by someone who may only
    /// look; `true` if refused.
    pub(super) async fn viewer_refused(
        &self,
        user: i64,
        chat: i64,
        query: &str,
        data: &str,
        what: &str,
    ) -> Result<bool, HandleError> {
        if self.gate.role(UserId(user)) == walkie_console::gate::Role::Operator {
            return Ok(false);
        }
        self.audit(AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            action: AuditAction::Refused,
            source: Some("button".into()),
            text: Some(data.into()),
            detail: Some(format!("viewer pressed {what}")),
            ..AuditEntry::default()
        })
        .await;
        self.tg
            .answer_callback(query, Some(walkie_console::gate::VIEWER_TEXT))
            .await?;
        Ok(true)
    }

    /// A press of a directory button (`dir:ID:INDEX`; operators only, checked before).
    pub(super) async fn dir_pressed(&self, p: &Press<'_>, rest: &str) -> Result<(), HandleError> {
        let (user, chat, q) = (p.user, p.chat, p.q);
        let parsed = rest
            .split_once(':')
            .and_then(|(id, i)| Some((id.parse::<i64>().ok()?, i.parse::<usize>().ok()?)));
        let taken = match parsed {
            Some((id, _)) => self.store.take_dir_choice(id, ChatId(chat)).await?,
            None => None,
        };
        let Some((choice, dir)) = taken.and_then(|c| {
            let d = c.dirs.get(parsed?.1)?.clone();
            Some((c, d))
        }) else {
            self.tg
                .answer_callback(&q.id.0, Some("This choice was already made."))
                .await?;
            return Ok(());
        };
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let shown = workdir::short_dir(&dir, home.as_deref(), 80);
        self.tg
            .answer_callback(&q.id.0, Some(&format!("{} in {shown}", choice.name)))
            .await?;
        if let Some(m) = &q.message {
            let html = format!(
                "📁 <b>{}</b> ({}): {}",
                escape_html(&choice.name),
                escape_html(&choice.preset),
                escape_html(&shown)
            );
            self.tg.edit_html(chat, m.id().0, &html, None).await?;
        }
        let dir = dir.to_string_lossy().into_owned();
        self.audit(AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            action: AuditAction::Command,
            source: Some("button".into()),
            text: Some(format!(
                "/new {} {} {dir}{}",
                choice.name,
                choice.preset,
                flags(&choice.boundary)
            )),
            ..AuditEntry::default()
        })
        .await;
        let req = Request::New {
            name: choice.name,
            spec: NewSpec::Preset(choice.preset),
            dir: Some(dir),
            // The flags of the `/new` that offered the choice.
            sandbox: choice.boundary,
        };
        self.request(user, chat, req).await
    }
}

/// The boundary flags as the audit line writes them (empty without flags).
fn flags(b: &SandboxChoice) -> String {
    let mut out = String::new();
    if let Some(p) = &b.profile {
        out.push_str(&format!(" --sandbox {p}"));
    }
    if let Some(n) = b.network {
        out.push_str(&format!(" --network {n}"));
    }
    out
}
