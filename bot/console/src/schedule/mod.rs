//! Scheduled dispatch wired into the console (issue 16): the jobs of `walkie-schedule` kept
//! in the store, a timer that fires them through the same dispatch path as typed text, and
//! the time zone and clock they are computed with.
//!
//! # Layout
//! - [`store`]: jobs, run history, drafts (and their cards), run-now asks, queued runs and
//!   each chat's zone in SQLite.
//! - [`timer`]: [`timer::Scheduler`]: sleeps until the next fire (or a change), fires due
//!   jobs, reports missed ones once, applies the overlap policy (queued runs kept in the
//!   store and resumed after a restart), holds a job whose remote host is down until it is
//!   back (then its catch-up policy decides), starts and ends job sessions.
//! - [`clock`]: the clock (the machine's, or the test-only offset file) and the default zone.
//! - The phone's requests are `requests/schedule.rs`; the terminal's `bot/src/cmd/schedule.rs`.
//!
//! How the CLI and a running bot share jobs: both open the bot's SQLite (WAL). Every change
//! bumps one integer (`schedule_generation`); the timer reads it every
//! [`timer::CHANGE_CHECK`] while it sleeps (one indexed read, no file scan) and reloads the
//! jobs when it moved; changes made in the bot itself wake it at once ([`Wake`]). A
//! `walkie schedule run` is a row the bot takes exactly once (`UPDATE ... WHERE taken = 0`)
//! or the CLI withdraws when no bot took it in time, so it fires once or not at all.

pub mod clock;
pub mod store;
pub mod timer;

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes the timer after a change made in this process (a job added, paused, run now).
#[derive(Debug, Default, Clone)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.0.notified().await;
    }
}

#[cfg(test)]
mod tests;
