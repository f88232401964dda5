//! `/notify [all | approvals | none]`: what makes this chat buzz.

use walkie_config::NotifyLevel;

use super::{Console, Result};
use crate::desk::notify_level;
use crate::front::{ChatId, Frontend};
use crate::host::Host;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    level: Option<NotifyLevel>,
) -> Result<()> {
    let text = match level {
        Some(level) => {
            c.store.set_notify_level(chat, level).await?;
            format!("Notifications here: {}.", describe(level))
        }
        None => {
            let level = notify_level(&c.store, &c.cfg, chat).await;
            format!(
                "Notifications here: {}. Change with /notify all | approvals | none.",
                describe(level)
            )
        }
    };
    c.say(chat, text).await
}

fn describe(level: NotifyLevel) -> &'static str {
    match level {
        NotifyLevel::Approvals => {
            "only approval requests buzz (exits and finished turns arrive silently)"
        }
        NotifyLevel::None => "nothing buzzes (everything arrives silently)",
        NotifyLevel::All => "approval requests, exits and finished turns all buzz",
    }
}
