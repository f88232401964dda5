//! `walkie host` and the commands that talk to it (`new`, `ls`, `send`, `screen`, `tail`,
//! `attach`, `pause`, `resume`, `kill`, `rm`, `revive`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use walkie_config::Config;
use walkie_host_proto::client::{Client, ClientError, SpawnHost};
use walkie_host_proto::keys::Key;
use walkie_host_proto::protocol::ErrorKind;
use walkie_host_proto::{NewSession, SessionInfo};
use walkie_recording::Limits;
use walkie_session_host::{HostOptions, RecordingOptions, SessionSettings};

use crate::cli::Command;

/// Arguments of `walkie new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// Session name: a-z, 0-9, '.', '_', '-' (up to 32).
    pub name: String,
    /// Working directory (default: the current one).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Start a preset from the config (e.g. claude, codex, shell) instead of CMD.
    #[arg(long, conflicts_with = "command")]
    pub preset: Option<String>,
    /// Command and arguments (default: your shell).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Arguments of `walkie send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    pub name: String,
    /// Text to type (words are joined with spaces); with --keys, key names.
    #[arg(required = true)]
    pub text: Vec<String>,
    /// Do not press Enter after the text.
    #[arg(long)]
    pub no_enter: bool,
    /// Treat the arguments as key names: Enter, Escape, Tab, BSpace, C-c, Up, F1, or single characters.
    #[arg(long)]
    pub keys: bool,
}

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
            secrets: [cfg.telegram.token.expose()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        },
        socket,
    }
}

/// Runs the host daemon in the foreground until SIGTERM or SIGINT; a second signal exits at once.
pub fn run_host(cfg: Config) -> anyhow::Result<ExitCode> {
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

/// SIGTERM (systemd) or SIGINT cancels `token`; a second one exits the process at once.
pub fn spawn_signal_handler(token: CancellationToken) -> anyhow::Result<()> {
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

/// How a client starts a host on demand.
pub fn spawn_host_for(cfg: &Config) -> anyhow::Result<SpawnHost> {
    Ok(SpawnHost {
        exe: std::env::current_exe().context("finding the walkie executable")?,
        log: cfg.state_dir().join("host.log"),
        remove_env: cfg.secret_env_names(),
    })
}

/// Connects to the host (starting one unless `no_spawn`).
pub async fn connect(cfg: &Config, no_spawn: bool) -> anyhow::Result<Client> {
    let spawn = if no_spawn {
        None
    } else {
        Some(spawn_host_for(cfg)?)
    };
    let timeout = Duration::from_millis(cfg.host.client_timeout_ms);
    Ok(Client::connect_or_spawn_within(&cfg.socket_path(), spawn.as_ref(), timeout).await?)
}

/// Exit codes: 0 ok, 1 other errors, 2 usage, 3 no such session, 4 session not running.
fn exit_code_for(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Host { kind, .. }) => match kind {
            ErrorKind::NoSuchSession => ExitCode::from(3),
            ErrorKind::NotRunning | ErrorKind::StillRunning => ExitCode::from(4),
            ErrorKind::BadName | ErrorKind::NameTaken | ErrorKind::BadRequest => ExitCode::from(2),
            _ => ExitCode::from(1),
        },
        _ => ExitCode::from(1),
    }
}

/// Runs a client command.
pub fn run_client(cfg: Config, no_spawn: bool, command: Command) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match client_command(&cfg, no_spawn, command).await {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("walkie: {e:#}");
                Ok(exit_code_for(&e))
            }
        }
    })
}

async fn client_command(
    cfg: &Config,
    no_spawn: bool,
    command: Command,
) -> anyhow::Result<ExitCode> {
    if let Command::Attach { name } = &command {
        let c = connect(cfg, no_spawn).await?;
        return crate::attach::attach(c, name).await;
    }
    let mut c = connect(cfg, no_spawn).await?;
    match command {
        Command::New(a) => {
            let (command, cwd, env) = match &a.preset {
                Some(p) => {
                    let preset = cfg.presets.get(p).with_context(|| {
                        let names: Vec<&String> = cfg.presets.keys().collect();
                        format!("no preset {p:?} in the config (presets: {names:?})")
                    })?;
                    (
                        preset.command.clone(),
                        a.cwd.clone().or_else(|| preset.cwd.clone()),
                        preset.env.clone().into_iter().collect(),
                    )
                }
                None => (a.command.clone(), a.cwd.clone(), Vec::new()),
            };
            let cwd = match cwd {
                Some(d) => {
                    std::path::absolute(&d).with_context(|| format!("--cwd {}", d.display()))?
                }
                None => std::env::current_dir().context("reading the current directory")?,
            };
            let name = c
                .new_session(NewSession {
                    name: a.name,
                    command,
                    cwd: Some(cwd),
                    env,
                    size: None,
                    record: true,
                })
                .await?;
            println!("{name}");
        }
        Command::Ls { json } => {
            let sessions = c.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            } else {
                print!("{}", format_table(&sessions));
            }
        }
        Command::Send(a) => {
            let chunks = if a.keys {
                let mut v = Vec::new();
                for k in &a.text {
                    v.push(k.parse::<Key>()?.bytes());
                }
                // Keys go as one write each, like separate keypresses.
                v
            } else {
                let mut v = vec![a.text.join(" ").into_bytes()];
                if !a.no_enter {
                    v.push(b"\r".to_vec());
                }
                v
            };
            c.input_from(&a.name, chunks, Some("cli".into())).await?;
        }
        Command::Screen { name, ansi } => {
            let text = c.screen(&name, ansi).await?;
            if ansi {
                println!("{text}\x1b[0m");
            } else {
                println!("{}", text.trim_end_matches('\n'));
            }
        }
        Command::Tail { name, lines } => {
            let text = c.tail(&name, lines).await?;
            if !text.is_empty() {
                println!("{text}");
            }
        }
        Command::Pause { name } => {
            c.pause(&name).await?;
            println!("{name} paused");
        }
        Command::Resume { name } => {
            c.resume(&name).await?;
            println!("{name} resumed");
        }
        Command::Kill { name, force } => {
            // The host answers at once; the exit follows (`walkie ls` shows it).
            let info = c.kill(&name, force).await?;
            if info.state.is_live() {
                let how = if force {
                    "SIGKILL"
                } else {
                    "SIGTERM, SIGKILL after the grace period"
                };
                println!("{name} is being killed ({how})");
            } else {
                println!("{name} {}", info.state.label());
            }
        }
        Command::Rm { name } => {
            c.rm(&name).await?;
        }
        Command::Revive { name } => {
            let name = c.revive(&name).await?;
            println!("{name}");
        }
        Command::Host
        | Command::Attach { .. }
        | Command::Transcribe(_)
        | Command::Replay(_)
        | Command::Rec(_)
        | Command::Model(_)
        | Command::Ask(_)
        | Command::ApproveHook(_)
        | Command::Up => {
            anyhow::bail!("not a client command")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// The `ls` table.
pub fn format_table(sessions: &[SessionInfo]) -> String {
    if sessions.is_empty() {
        return "no sessions\n".into();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let rows: Vec<[String; 8]> = sessions
        .iter()
        .map(|s| {
            let cmd = if s.command.is_empty() {
                "$SHELL".to_string()
            } else {
                s.command.join(" ")
            };
            [
                s.name.clone(),
                s.state.label(),
                s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                human(now.saturating_sub(s.created_ms)),
                s.idle_ms.map(human).unwrap_or_else(|| "-".into()),
                format!("{}x{}", s.cols, s.rows),
                s.cwd.display().to_string(),
                cmd,
            ]
        })
        .collect();
    let head = [
        "NAME", "STATE", "PID", "AGE", "IDLE", "SIZE", "CWD", "COMMAND",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
