//! `walkie bridge --stdio`: the far end of an ssh link to this box's session host.
//!
//! The home walkie runs it through an ssh exec channel (a key in `authorized_keys` may be
//! restricted to exactly this command). It makes sure the local host runs (starting it as
//! any client would), then copies bytes between stdin/stdout and the host's socket until
//! either side closes. It does not speak the protocol itself: the home walkie greets the
//! host through it, so the version handshake is end to end and a mismatch names both
//! versions. The host sees an ordinary local client of the same uid, and its lineage check
//! still applies: a bridge started from inside a session cannot decide asks.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use walkie_config::Config;
use walkie_host_proto::client::Client;

use super::host::spawn_host_for;

/// Arguments of `walkie bridge`.
#[derive(Debug, clap::Args)]
pub(crate) struct BridgeArgs {
    /// Copy the host protocol between stdin/stdout and the host's socket (the only mode;
    /// required so that a mistyped command never starts copying).
    #[arg(long, required = true)]
    pub stdio: bool,
}

/// Runs the bridge until either side closes.
pub(crate) fn run_bridge(
    cfg: &Config,
    no_spawn: bool,
    _args: BridgeArgs,
) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(bridge(cfg, no_spawn))?;
    Ok(ExitCode::SUCCESS)
}

async fn bridge(cfg: &Config, no_spawn: bool) -> anyhow::Result<()> {
    let socket = cfg.socket_path();
    let spawn = if no_spawn {
        None
    } else {
        Some(spawn_host_for(cfg)?)
    };
    let timeout = Duration::from_millis(cfg.host.client_timeout_ms);
    // A greeted connection proves a host of this walkie answers (or starts one); it is
    // dropped, and the copy gets a fresh, unspoken connection for the far side's greeting.
    drop(
        Client::connect_or_spawn_within(&socket, spawn.as_ref(), timeout)
            .await
            .context("reaching this box's session host")?,
    );
    let mut host = tokio::net::UnixStream::connect(&socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let mut stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
    match tokio::io::copy_bidirectional(&mut stdio, &mut host).await {
        Ok(_) => Ok(()),
        // The ssh side going away mid-frame is the normal end of a cut link.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("copying between ssh and the session host"),
    }
}
