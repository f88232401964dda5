//! `/pause`, `/resume`, `/kill [NAME]`: a change of the session's state, answered with the
//! state the host reports.

use super::{host_answer, Console, Result};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

/// Which change was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Pause,
    Resume,
    Kill,
}

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
    change: Change,
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    let r = match change {
        Change::Pause => c.host.pause(&name).await,
        Change::Resume => c.host.resume(&name).await,
        Change::Kill => c.host.kill(&name).await,
    };
    match r {
        Ok(info) => {
            c.say(chat, format!("{name}: {}", info.state.label()))
                .await?;
            c.front.watch(chat, &name);
            Ok(())
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
