//! `/use NAME`: the chat's current session (where plain text goes).

use super::{host_answer, Console, Result};
use crate::front::{ChatId, Frontend};
use crate::host::Host;
use crate::session::SessionRef;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: &str,
) -> Result<()> {
    match c.host.info(name).await {
        Ok(Some(_)) => {
            c.store
                .set_current_session(chat, Some(&SessionRef::address(name)))
                .await?;
            c.say(chat, format!("Now talking to {name}.")).await?;
            c.front.watch(chat, name);
            Ok(())
        }
        Ok(None) => {
            c.say(chat, format!("No session {name}; /ls lists them."))
                .await
        }
        Err(e) => c.say(chat, host_answer(&e, Some(name))).await,
    }
}
