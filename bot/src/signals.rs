//! Shutdown on SIGTERM (systemd) or SIGINT, for `walkie host` and `walkie up` alike.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// SIGTERM or SIGINT cancels `token`; a second one exits the process at once.
pub(crate) fn spawn_signal_handler(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        for round in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if round == 0 {
                tracing::info!("signal received: shutting down (again to exit at once)");
                token.cancel();
            } else {
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    Ok(())
}
