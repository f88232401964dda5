//! The press of Cancel on a queued item (`walkie_console::outbox`): operators only, only
//! in the chat that queued it, audited; the message edited to "cancelled".

use teloxide::types::CallbackQuery;
use walkie_console::front::{ChatId, UserId};
use walkie_console::store::{AuditAction, AuditEntry};

use super::{App, HandleError};
use crate::render::escape_html;
use crate::views::OUTBOX_PREFIX;

impl App {
    /// A press of an outbox button; `None` if `data` is not one.
    pub(super) async fn on_outbox_button(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        data: &str,
    ) -> Option<Result<(), HandleError>> {
        let rest = data.strip_prefix(OUTBOX_PREFIX)?;
        Some(self.outbox_pressed(user, chat, q, data, rest).await)
    }

    async fn outbox_pressed(
        &self,
        user: i64,
        chat: i64,
        q: &CallbackQuery,
        data: &str,
        rest: &str,
    ) -> Result<(), HandleError> {
        if self
            .viewer_refused(user, chat, &q.id.0, data, "an outbox button")
            .await?
        {
            return Ok(());
        }
        let id = rest.strip_prefix("c:").and_then(|i| i.parse::<i64>().ok());
        let cancelled = match id {
            Some(id) => walkie_console::outbox::cancel(&self.store, ChatId(chat), id).await?,
            None => None,
        };
        let Some(line) = cancelled else {
            self.tg
                .answer_callback(&q.id.0, Some("Already delivered, expired or cancelled."))
                .await?;
            return Ok(());
        };
        self.audit(AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            action: AuditAction::Command,
            source: Some("button".into()),
            text: Some(data.into()),
            detail: Some(line.clone()),
            ..AuditEntry::default()
        })
        .await;
        self.tg.answer_callback(&q.id.0, Some("Cancelled")).await?;
        if let Some(m) = &q.message {
            self.tg
                .edit_html(chat, m.id().0, &escape_html(&line), None)
                .await?;
        }
        Ok(())
    }
}
