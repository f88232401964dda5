//! `/watch [NAME]`: a live picture of a running session, kept by the front end
//! ([`Frontend::watch_picture`]: posted, redrawn when the screen changes, paced, stopped by
//! its Stop button or after `telegram.watch_s`).

use walkie_host_proto::client::ClientError;
use walkie_host_proto::protocol::ErrorKind;

use super::{host_answer, Console, Result};
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
    match c.host.info(&name).await {
        Ok(Some(info)) if info.state.is_live() => {
            c.front.watch_picture(chat, &name);
            Ok(())
        }
        Ok(Some(info)) => {
            let state = info.state.label();
            c.say(
                chat,
                format!(
                    "{name} is {state}: nothing to watch (/shot {name} shows its last screen)."
                ),
            )
            .await
        }
        Ok(None) => {
            let gone = ClientError::Host {
                kind: ErrorKind::NoSuchSession,
                message: String::new(),
            };
            c.say(chat, host_answer(&gone, Some(&name))).await
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
