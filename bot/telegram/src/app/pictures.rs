//! Presses of the picture buttons: 🖼 under a text screen (`pic:NAME`, the picture of
//! `/shot NAME`), and a live picture's keys (`wk:KEY:NAME`, typed like `/keys NAME KEY`,
//! operators only, audited) and Stop (`wst:NAME`).

use walkie_console::front::{ChatId, UserId};
use walkie_console::host::Host;
use walkie_console::requests::{host_answer, Request};
use walkie_console::session::SessionRef;
use walkie_console::store::{AuditAction, AuditEntry};

use super::buttons::Press;
use super::{App, HandleError};
use crate::pictures::parse_key;

impl App {
    /// A press of 🖼 (`pic:NAME`).
    pub(super) async fn picture_pressed(
        &self,
        p: &Press<'_>,
        name: &str,
    ) -> Result<(), HandleError> {
        self.tg.answer_callback(p.id(), None).await?;
        let name = Some(name.to_string());
        self.request(p.user, p.chat, Request::Shot { name }).await
    }

    /// A press of a live picture's Stop (`wst:NAME`).
    pub(super) async fn stop_pressed(&self, p: &Press<'_>, name: &str) -> Result<(), HandleError> {
        let toast = if self.console.front.pictures.stop(p.chat, name) {
            "Stopped"
        } else {
            "Not running any more"
        };
        self.tg.answer_callback(p.id(), Some(toast)).await?;
        Ok(())
    }

    /// A press of a live picture's key (`wk:KEY:NAME`; operators only, checked before).
    pub(super) async fn key_pressed(&self, p: &Press<'_>) -> Result<(), HandleError> {
        let (user, chat, q) = (p.user, p.chat, p.q);
        let Some((key, name)) = parse_key(p.data) else {
            return self.no_longer_works(p).await;
        };
        let Ok(parsed) = key.parse::<walkie_host_proto::keys::Key>() else {
            return self.no_longer_works(p).await;
        };
        self.audit(AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            session: Some(SessionRef::local(name)),
            action: AuditAction::Command,
            source: Some("button".into()),
            text: Some(format!("/keys {name} {key}")),
            detail: Some("a key of a live picture".into()),
        })
        .await;
        let toast = match self.host.input(name, vec![parsed.bytes()]).await {
            Ok(()) => {
                self.console.front.pictures.poke(chat, name);
                format!("{key} sent")
            }
            Err(e) => host_answer(&e, Some(name)),
        };
        self.tg.answer_callback(&q.id.0, Some(&toast)).await?;
        Ok(())
    }
}
