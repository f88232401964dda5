//! `/ls`: the sessions, the chat's current one marked.

use super::{host_answer, Console, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;
use crate::session::SessionRef;

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
    // The host lists its own sessions: the current one is marked if it is on this host.
    let current = c
        .store
        .current_session(chat)
        .await?
        .filter(SessionRef::is_local)
        .map(|s| s.name);
    c.reply(chat, View::Sessions { sessions, current }).await
}
