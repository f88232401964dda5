//! Shutdown on SIGTERM (systemd) or SIGINT, for `walkie host` and `walkie up` alike.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Commands whose output goes to a pipe (`walkie screen NAME | grep -q x`, `| head`) end
/// quietly when the reader goes away, as cat and ls do, instead of failing on every write
/// (Rust ignores SIGPIPE, so `println!` would panic). Only for short-lived commands: the
/// daemons keep ignoring it and see EPIPE as an error on the one socket.
pub(crate) fn exit_on_broken_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main's thread, before any other thread exists; the
    // default action installs no handler code.
    if let Err(e) = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) } {
        tracing::debug!("cannot restore SIGPIPE: {e}");
    }
}

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
