//! `walkie host`, and how every other command starts a host on demand.

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use walkie_config::Config;
use walkie_session_host::client::SpawnHost;
use walkie_session_host::HostOptions;

use crate::signals::spawn_signal_handler;

/// Runs the host daemon in the foreground until SIGTERM or SIGINT; a second signal exits at once.
pub(crate) fn run_host(cfg: Config) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let opts = HostOptions::from_config(&cfg);
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone())?;
        walkie_session_host::run(opts, shutdown)
            .await
            .context("session host")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// How a client (or the bot) starts a host on demand.
pub(crate) fn spawn_host_for(cfg: &Config) -> anyhow::Result<SpawnHost> {
    Ok(SpawnHost {
        exe: std::env::current_exe().context("finding the walkie executable")?,
        log: cfg.state_dir().join("host.log"),
        remove_env: cfg.secret_env_names(),
    })
}
