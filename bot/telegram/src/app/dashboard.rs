//! The press of a session's button on a chat's dashboard (`dash:NAME`): the session
//! becomes the chat's focus, so it leaves the dashboard and its own live screen is edited
//! at once. Looking changes nothing in a session, so viewers may press it too.

use super::buttons::Press;
use super::{App, HandleError};

impl App {
    /// A press of a dashboard button (`dash:NAME`).
    pub(super) async fn dashboard_pressed(
        &self,
        p: &Press<'_>,
        name: &str,
    ) -> Result<(), HandleError> {
        let live = &self.console.front.live;
        live.set_focus(p.chat, name);
        live.ensure(p.chat, name);
        let toast = format!("{name}: its own live screen");
        self.tg.answer_callback(p.id(), Some(&toast)).await?;
        Ok(())
    }
}
