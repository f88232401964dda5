//! `/screen [NAME]`: the session's screen as a message of that session.

use super::{host_answer, Console, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    match c.host.screen(&name).await {
        Ok(screen) => {
            let view = View::Screen {
                session: name.clone(),
                screen,
            };
            c.reply_for(chat, &name, view).await
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
