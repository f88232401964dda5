//! `walkie host`, and how every other command starts a host on demand.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use walkie_config::Config;
use walkie_host_proto::client::SpawnHost;
use walkie_recording::Limits;
use walkie_session_host::{
    HostOptions, Presets, RecordingOptions, ReviveMode, SandboxOptions, SessionSettings,
};

use crate::signals::spawn_signal_handler;

/// The host's options from the app's configuration.
fn host_options(cfg: &Config) -> HostOptions {
    let socket = cfg.socket_path();
    HostOptions {
        state_dir: cfg.state_dir(),
        default_cols: cfg.host.cols,
        default_rows: cfg.host.rows,
        kill_grace: Duration::from_millis(cfg.host.kill_grace_ms),
        session: SessionSettings {
            scrollback_bytes: cfg.host.scrollback_bytes,
            subscriber_queue: cfg.host.subscriber_queue,
            enter_delay: Duration::from_millis(cfg.host.enter_delay_ms),
            term: cfg.host.term.clone(),
            secret_env: cfg.secret_env_names(),
            socket: socket.clone(),
            paused_input_bytes: cfg.host.paused_input_bytes,
        },
        recording: RecordingOptions {
            enabled: cfg.recording.enabled,
            limits: Limits {
                part_bytes: cfg.recording.part_bytes,
                session_bytes: cfg.recording.session_bytes,
            },
            total_bytes: cfg.recording.total_bytes,
        },
        // The token from the config file or .env; from the environment it is read by name.
        secret_values: [cfg.telegram.token.expose()]
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        revive: match cfg.host.revive {
            walkie_config::Revive::Agents => ReviveMode::Agents,
            walkie_config::Revive::All => ReviveMode::All,
            walkie_config::Revive::None => ReviveMode::None,
        },
        sandbox: SandboxOptions {
            config: cfg.sandbox.clone(),
            exe: None,
            // walkie's config file too: the agents' hooks (`walkie approve-hook`) load it
            // inside the boundary, which hides it when it lives under /tmp.
            visible: [walkie_presets::copilot_home::plugin_dir(cfg)]
                .into_iter()
                .chain(cfg.file.clone())
                .collect(),
            save_always: cfg.file.clone().map(|file| {
                walkie_session_host::SaveAlways(std::sync::Arc::new(move |profile, domain| {
                    walkie_config::edit::allow_domain(&file, profile, domain)
                        .map(|()| file.clone())
                        .map_err(|e| e.to_string())
                }))
            }),
        },
        presets: Some(host_presets(cfg)),
        socket,
    }
}

/// Sessions another machine's walkie asks this host for by preset (`NewSession.expand`),
/// expanded here: this machine's walkie.toml as it is now (a preset added on the box needs
/// no host restart), this walkie in the agent's hooks, this state dir for the agent's home.
fn host_presets(cfg: &Config) -> Presets {
    let started = cfg.clone();
    let env: Vec<(String, String)> = std::env::vars().collect();
    Presets(std::sync::Arc::new(move |spec| {
        let fresh = match started.file.as_deref().filter(|f| f.exists()) {
            Some(file) => Config::load_from(Some(file), &env)
                .map(|mut c| {
                    // The agent's home goes where this host keeps its state.
                    c.state_dir = Some(started.state_dir());
                    c
                })
                .map_err(|e| format!("this box's walkie.toml cannot be read: {e}"))?,
            None => started.clone(),
        };
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(std::path::PathBuf::from);
        walkie_presets::for_host(&fresh, spec, home.as_deref()).map_err(|e| match e {
            walkie_presets::PresetError::Unknown { name, known } => format!(
                "no preset {name:?} in this box's walkie.toml (its presets: {}; `--` before a command runs it as one)",
                known.join(", ")
            ),
            other => other.to_string(),
        })
    }))
}

/// Runs the host daemon in the foreground until SIGTERM or SIGINT; a second signal exits at once.
pub(crate) fn run_host(cfg: Config) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let opts = host_options(&cfg);
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
