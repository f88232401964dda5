//! `/attach [NAME]`: how to attach to the session from a terminal.

use super::{Console, Result, View};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
) -> Result<()> {
    let Some(session) = c.target(chat, name).await? else {
        return Ok(());
    };
    let ssh_host = c.cfg.telegram.ssh_host.clone();
    c.reply(chat, View::Attach { session, ssh_host }).await
}
