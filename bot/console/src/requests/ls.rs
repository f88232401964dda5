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
    let hosts = c.host.remote_hosts();
    if sessions.is_empty() && hosts.is_empty() {
        return c
            .say(chat, "No sessions. /new NAME [PRESET] starts one.")
            .await;
    }
    // Sessions are listed by address (`api`, `api@cloud`), as the current one is written.
    let current = c
        .store
        .current_session(chat)
        .await?
        .map(|s| SessionRef::to_string(&s));
    c.reply(
        chat,
        View::Sessions {
            sessions,
            current,
            hosts,
        },
    )
    .await
}
