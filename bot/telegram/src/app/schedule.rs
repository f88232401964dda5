//! The presses of `/schedule`'s buttons (a job's Pause/Resume, Run now, Delete; a proposed
//! job's Create / Cancel), and voice notes that propose a job ("every day at nine, backend,
//! run the tests"). The work is the console's (`requests::schedule`).

use walkie_console::front::{ChatId, UserId};
use walkie_console::requests::schedule::spoken;
use walkie_console::requests::Request;
use walkie_console::store::{AuditAction, AuditEntry};

use super::buttons::Press;
use super::{App, HandleError};
use crate::views::schedule_press;

impl App {
    /// A press of a schedule button (`sj:`, `sd:`, `sz:`; operators only, checked before).
    pub(super) async fn schedule_pressed(&self, p: &Press<'_>) -> Result<(), HandleError> {
        let Press {
            user,
            chat,
            q,
            data,
        } = *p;
        let Some(req) = schedule_press(data) else {
            return self.no_longer_works(p).await;
        };
        self.tg.answer_callback(&q.id.0, None).await?;
        self.audit(AuditEntry {
            user_id: Some(UserId(user)),
            chat_id: Some(ChatId(chat)),
            action: AuditAction::Command,
            source: Some("button".into()),
            text: Some(data.into()),
            ..AuditEntry::default()
        })
        .await;
        self.request(user, chat, Request::Schedule(req)).await
    }

    /// A transcript that starts like a schedule becomes a proposed job's card
    /// (`requests::schedule::spoken`); `None`: it is an ordinary voice note.
    pub(super) async fn spoken_job(
        &self,
        user: i64,
        chat: i64,
        heard: &str,
    ) -> Option<Result<(), HandleError>> {
        match spoken(&self.console, UserId(user), ChatId(chat), heard).await {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}
