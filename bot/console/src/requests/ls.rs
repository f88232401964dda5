//! `/ls`: the sessions, the chat's current one marked.

use super::{host_answer, Console, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

pub(crate) async fn handle<F: Frontend, H: Host>(c: &Console<F, H>, chat: ChatId) -> Result<()> {
    let sessions = match c.host.list().await {
        Ok(s) => s,
        Err(e) => return c.say(chat, host_answer(&e, None)).await,
    };
    if sessions.is_empty() {
        return c
            .say(chat, "No sessions. /new NAME [PRESET] starts one.")
            .await;
    }
    let current = c.store.current_session(chat.0).await?;
    c.reply(chat, View::Sessions { sessions, current }).await
}
