//! When the bot's state cannot be written (a full disk, most likely), `walkie up` keeps
//! running: the update it could not claim waits (it is not dispatched unclaimed, which
//! could type it twice after a restart, and not skipped, which would lose it), the claim
//! is retried with a backoff, the chats are told once, and everything carries on in order
//! when a write succeeds again. SQLite refuses a write it cannot make whole, so nothing
//! is half written.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use walkie_console::store::{Claim, StoreError};

use crate::app::App;

/// What the chats are told while the state cannot be written.
pub(crate) const NOTICE: &str = "⚠️ walkie cannot write its state (disk full?). Your messages wait and are handled in order once it can.";

/// What they are told when it can again.
const RECOVERED: &str = "✅ walkie can write its state again; carrying on.";

/// Longest wait between two tries of a claim.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// The loop's view of the store's health.
#[derive(Default)]
pub(crate) struct Outage {
    /// The chats told of the current outage (none: the store writes).
    told: Vec<i64>,
    /// Updates handled whose "finished" mark could not be written yet.
    unfinished: Vec<i64>,
}

impl Outage {
    /// Claims update `id` (from `chat`), retrying while the store fails. `None`: shutdown.
    pub(crate) async fn claim(
        &mut self,
        app: &App,
        id: i64,
        chat: Option<i64>,
        shutdown: &CancellationToken,
    ) -> Option<Claim> {
        let mut backoff = Duration::from_millis(250);
        loop {
            match app.store.claim_update(id).await {
                Ok(c) => {
                    self.recovered(app).await;
                    return Some(c);
                }
                Err(e) => {
                    tracing::warn!(update = id, error = %e, retry_in = ?backoff, "cannot claim an update");
                    self.failed(app, chat, &e).await;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// A write that may fail without holding the update up (its summary, say).
    pub(crate) async fn note(&mut self, app: &App, chat: Option<i64>, r: Result<(), StoreError>) {
        if let Err(e) = r {
            tracing::warn!(error = %e, "cannot write the bot's state");
            self.failed(app, chat, &e).await;
        }
    }

    /// Marks update `id` handled, or keeps it to mark later (see [`Outage::flush`]).
    pub(crate) async fn finish(&mut self, app: &App, id: i64, chat: Option<i64>) {
        if let Err(e) = app.store.finish_update(id).await {
            tracing::warn!(update = id, error = %e, "cannot mark an update handled; later");
            self.unfinished.push(id);
            self.failed(app, chat, &e).await;
        }
    }

    /// Retries the marks [`Outage::finish`] could not write.
    pub(crate) async fn flush(&mut self, app: &App) {
        while let Some(&id) = self.unfinished.first() {
            if app.store.finish_update(id).await.is_err() {
                return;
            }
            self.unfinished.remove(0);
        }
    }

    async fn failed(&mut self, app: &App, chat: Option<i64>, e: &StoreError) {
        if !is_write_failure(e) {
            return;
        }
        // The update's chat and every operator's: whoever waits for an answer.
        let mut chats: Vec<i64> = chat.into_iter().collect();
        chats.extend(app.cfg.telegram.allowed_users.iter().copied());
        for c in chats {
            if self.told.contains(&c) {
                continue;
            }
            self.told.push(c);
            if let Err(e) = app.tg.send_text(c, NOTICE).await {
                tracing::warn!(chat = c, error = %e, "cannot tell a chat that the state cannot be written");
            }
        }
    }

    async fn recovered(&mut self, app: &App) {
        for c in std::mem::take(&mut self.told) {
            if let Err(e) = app.tg.send_text(c, RECOVERED).await {
                tracing::debug!(chat = c, error = %e, "cannot say the state is written again");
            }
        }
    }
}

/// Any database error: a closed pool or a corrupt value is as much "cannot write its
/// state" to the phone as a full disk is.
fn is_write_failure(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(_) | StoreError::Open(_))
}
