//! `/tail [NAME] [N]`: the session's last lines of output, as a message of that session.

use super::{host_answer, Console, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

/// Lines `/tail` shows by default.
pub const DEFAULT_LINES: usize = 20;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
    lines: Option<usize>,
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    match c.host.tail(&name, lines.unwrap_or(DEFAULT_LINES)).await {
        Ok(text) => {
            let view = View::Tail {
                session: name.clone(),
                text,
            };
            c.reply_for(chat, &name, view).await
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
