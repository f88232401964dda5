//! The press of a session's button on a chat's dashboard (`dash:NAME`): the session
//! becomes the chat's focus, so it leaves the dashboard and its own live screen is edited
//! at once. Looking changes nothing in a session, so viewers may press it too.

use teloxide::types::CallbackQuery;

use super::{App, HandleError};
use crate::dashboard::DASH_PREFIX;

impl App {
    /// A press of a dashboard button; `None` if `data` is not one.
    pub(super) async fn on_dashboard_button(
        &self,
        chat: i64,
        q: &CallbackQuery,
        data: &str,
    ) -> Option<Result<(), HandleError>> {
        let name = data.strip_prefix(DASH_PREFIX)?;
        let live = &self.console.front.live;
        live.set_focus(chat, name);
        live.ensure(chat, name);
        let toast = format!("{name}: its own live screen");
        Some(
            self.tg
                .answer_callback(&q.id.0, Some(&toast))
                .await
                .map_err(Into::into),
        )
    }
}
