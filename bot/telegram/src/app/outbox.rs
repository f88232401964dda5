//! The press of Cancel on a queued item (`walkie_console::outbox`): operators only, only
//! in the chat that queued it, audited; the message edited to "cancelled".

use walkie_console::front::{ChatId, UserId};
use walkie_console::store::{AuditAction, AuditEntry};

use super::buttons::Press;
use super::{App, HandleError};
use crate::render::escape_html;

impl App {
    /// A press of an outbox button (`outbox:c:ID`; operators only, checked before).
    pub(super) async fn outbox_pressed(
        &self,
        p: &Press<'_>,
        rest: &str,
    ) -> Result<(), HandleError> {
        let Press {
            user,
            chat,
            q,
            data,
        } = *p;
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
