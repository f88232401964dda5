//! For `walkie ls`: approvals waiting for a decision that no chat got a card of (the bot
//! could not post them; its log says why), read from the bot's own store. Nothing is
//! created: without a bot store there is nothing to say.

use walkie_approval::model::now_ms;
use walkie_config::Config;
use walkie_console::store::{Store, DB_FILE};

/// A card is posted within moments of the ask: younger ones are still on their way.
const POSTING_MS: u64 = 10_000;

/// One line per unposted approval; none when there are none or the store cannot be read.
pub(crate) async fn lines(cfg: &Config) -> Vec<String> {
    let path = cfg.state_dir().join(DB_FILE);
    if !path.exists() {
        return Vec::new();
    }
    let store = match Store::open(&path).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the bot's store");
            return Vec::new();
        }
    };
    let now = now_ms();
    let unposted = store
        .unposted_approvals(now.saturating_sub(POSTING_MS), now)
        .await
        .unwrap_or_default();
    store.close().await;
    unposted
        .iter()
        .map(|a| {
            format!(
                "! approval {} for {}: no chat got its card (see the bot's log); it waits until {}",
                a.id.0,
                a.session,
                walkie_approval::card::clock(a.deadline_ms)
            )
        })
        .collect()
}
