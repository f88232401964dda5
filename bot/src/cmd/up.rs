//! `walkie up`: the Telegram bot, wired to this process's signals and host spawn.

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use walkie_config::Config;

use super::host::spawn_host_for;
use crate::signals::spawn_signal_handler;

/// Runs the bot until SIGTERM or SIGINT (a second signal exits at once). `no_spawn`: never
/// start a session host (under systemd the host has its own unit, outside the bot's sandbox).
pub(crate) fn run_up(cfg: Config, no_spawn: bool) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone())?;
        let spawn = if no_spawn {
            None
        } else {
            Some(spawn_host_for(&cfg)?)
        };
        walkie_telegram::run(cfg, spawn, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
