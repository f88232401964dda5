//! `/keys [NAME] KEYS`: presses keys in the session (each written separately), then shows
//! its live screen.

use walkie_host_proto::keys::Key;

use super::{host_answer, Console, Result};
use crate::front::{ChatId, Frontend};
use crate::host::Host;

pub(crate) async fn handle<F: Frontend, H: Host>(
    c: &Console<F, H>,
    chat: ChatId,
    name: Option<String>,
    keys: &[String],
) -> Result<()> {
    let Some(name) = c.target(chat, name).await? else {
        return Ok(());
    };
    let mut chunks = Vec::new();
    for k in keys {
        match k.parse::<Key>() {
            Ok(key) => chunks.push(key.bytes()),
            Err(e) => return c.say(chat, e.to_string()).await,
        }
    }
    if let Some(since) = c.host.queue_for(&name) {
        let payload = crate::outbox::Payload::Keys(chunks);
        return crate::outbox::queue(
            &c.store, &c.front, None, chat, &name, payload, "telegram", since,
        )
        .await;
    }
    match c.host.input(&name, chunks).await {
        Ok(()) => {
            c.front.watch(chat, &name);
            Ok(())
        }
        Err(e) => c.say(chat, host_answer(&e, Some(&name))).await,
    }
}
