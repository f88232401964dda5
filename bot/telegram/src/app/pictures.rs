//! Presses of the picture buttons: 🖼 under a text screen (`pic:NAME`, the picture of
//! `/shot NAME`), and a live picture's keys (`wk:KEY:NAME`, typed like `/keys NAME KEY`,
//! operators only, audited) and Stop (`wst:NAME`).

use teloxide::types::CallbackQuery;
use walkie_console::front::{ChatId, UserId};
use walkie_console::host::Host;
use walkie_console::requests::{host_answer, Request};
use walkie_console::session::SessionRef;
use walkie_console::store::{AuditAction, AuditEntry};

use super::{App, HandleError};
use crate::pictures::{parse_key, STOP_PREFIX};
use crate::views::PICTURE_PREFIX;

impl App {
    /// A press of a picture button; `None` if `data` is not one.
    pub(super) async fn on_picture_button(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        data: &str,
    ) -> Option<Result<(), HandleError>> {
        if let Some(name) = data.strip_prefix(PICTURE_PREFIX) {
            return Some(self.picture_pressed(user, chat, q, name).await);
        }
        if let Some(name) = data.strip_prefix(STOP_PREFIX) {
            let toast = if self.console.front.pictures.stop(chat, name) {
                "Stopped"
            } else {
                "Not running any more"
            };
            return Some(
                self.tg
                    .answer_callback(&q.id.0, Some(toast))
                    .await
                    .map_err(Into::into),
            );
        }
        let (key, name) = parse_key(data)?;
        Some(self.key_pressed(user, chat, q, key, name, data).await)
    }

    async fn picture_pressed(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        name: &str,
    ) -> Result<(), HandleError> {
        self.tg.answer_callback(&q.id.0, None).await?;
        let name = Some(name.to_string());
        self.request(user, chat, Request::Shot { name }).await
    }

    async fn key_pressed(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        key: &str,
        name: &str,
        data: &str,
    ) -> Result<(), HandleError> {
        if self
            .viewer_refused(user, chat, &q.id.0, data, "a key of a live picture")
            .await?
        {
            return Ok(());
        }
        let Ok(parsed) = key.parse::<walkie_host_proto::keys::Key>() else {
            self.tg
                .answer_callback(&q.id.0, Some("This button no longer works."))
                .await?;
            return Ok(());
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
