//! `walkie host`, and how every other command starts a host on demand.
//!
//! The slim `walkie-host` binary (bot/src/host_main.rs) compiles this file too, for
//! [`host_options`] and [`run_host`]: what they use is linked into the daemon, so they stay
//! free of the bot, whisper and ssh crates.

use std::path::{Path, PathBuf};
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

/// The slim daemon's file name, looked for beside walkie's own executable.
pub(crate) const SLIM_HOST: &str = "walkie-host";

/// The host's options from the app's configuration; `walkie_exe` is the `walkie` binary the
/// host execs for things it does not carry itself (the sandbox trampoline), `None` for this
/// process's own.
fn host_options(cfg: &Config, walkie_exe: Option<PathBuf>) -> HostOptions {
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
            exe: walkie_exe.clone(),
            // walkie's config file too: the agents' hooks (`walkie approve-hook`) load it
            // inside the boundary, which hides it when it lives under /tmp.
            visible: [cfg.copilot_plugin_dir()]
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
        presets: Some(host_presets(cfg, walkie_exe)),
        socket,
    }
}

/// Sessions another machine's walkie asks this host for by preset (`NewSession.expand`),
/// expanded here: this machine's walkie.toml as it is now (a preset added on the box needs
/// no host restart), this walkie in the agent's hooks, this state dir for the agent's home.
/// `walkie` is the binary the agents' hooks run (`None`: this process, the `walkie` binary).
fn host_presets(cfg: &Config, walkie: Option<PathBuf>) -> Presets {
    let started = cfg.clone();
    let walkie = walkie.or_else(|| match std::env::current_exe() {
        Ok(exe) => Some(exe),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find walkie's own path; no approval hook");
            None
        }
    });
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
        walkie_presets::for_host(&fresh, spec, home.as_deref(), walkie.as_deref()).map_err(|e| match e {
            walkie_presets::PresetError::Unknown { name, known } => format!(
                "no preset {name:?} in this box's walkie.toml (its presets: {}; `--` before a command runs it as one)",
                known.join(", ")
            ),
            other => other.to_string(),
        })
    }))
}

/// Runs the host daemon in the foreground until SIGTERM or SIGINT; a second signal exits at once.
pub(crate) fn run_host(cfg: Config, walkie_exe: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    give_back_large_blocks();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let opts = host_options(&cfg, walkie_exe);
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone())?;
        walkie_session_host::run(opts, shutdown)
            .await
            .context("session host")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Large blocks (a recording part's 1 MiB buffer under a flood) are mapped on their own and
/// unmapped when freed. glibc raises its mmap threshold to the size of each such block freed,
/// after which they come from the heap and stay resident after their free: a release host
/// held 48.9 MiB after 1 GB over 10 sessions, 29.8 MiB with the threshold fixed (and 3.1
/// instead of 3.8 MiB anonymous with 100 idle sessions; docs/PERFORMANCE.md).
#[cfg(target_env = "gnu")]
fn give_back_large_blocks() {
    /// glibc's own starting threshold is 128 KiB; a batch (64 KiB) stays on the heap.
    const THRESHOLD: libc::c_int = 256 * 1024;
    // SAFETY: mallopt only sets a parameter of the allocator; it is called before the
    // runtime's threads exist.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) } != 1 {
        tracing::warn!("could not fix malloc's mmap threshold: freed floods may stay resident");
    }
}

/// Other C libraries keep their own policy.
#[cfg(not(target_env = "gnu"))]
fn give_back_large_blocks() {}

/// `walkie host`: replaces this process with the slim `walkie-host` when it sits beside
/// walkie's executable (the daemon then maps only the session host, not the bot, whisper.cpp
/// and ssh: a third of the resident memory of 100 idle sessions), telling it walkie's path.
/// Returns when there is none (`cargo run`, a lone copy), or its exec failed: the caller runs
/// the host in this process, as before. Called before the configuration is loaded, so the
/// slim host starts with this process's environment untouched (no `.env` secrets in its
/// /proc/PID/environ) and loads the configuration itself.
pub(crate) fn exec_slim_host(config: Option<&Path>) {
    use std::os::unix::process::CommandExt;
    let Ok(walkie) = std::env::current_exe() else {
        return;
    };
    let slim = walkie.with_file_name(SLIM_HOST);
    if !slim.is_file() {
        return;
    }
    let mut cmd = std::process::Command::new(&slim);
    cmd.arg("--walkie-exe").arg(&walkie);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    // exec returns only on failure.
    let e = cmd.exec();
    eprintln!(
        "walkie: cannot run {} ({e}); running the host in this process",
        slim.display()
    );
}

/// How a client (or the bot) starts a host on demand: `walkie host`, which becomes the slim
/// `walkie-host` where there is one.
pub(crate) fn spawn_host_for(cfg: &Config) -> anyhow::Result<SpawnHost> {
    Ok(SpawnHost {
        exe: std::env::current_exe().context("finding the walkie executable")?,
        log: cfg.state_dir().join("host.log"),
        remove_env: cfg.secret_env_names(),
    })
}
