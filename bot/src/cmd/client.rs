//! `walkie host` and the commands that talk to it (`new`, `ls`, `send`, `screen`, `tail`,
//! `attach`, `pause`, `resume`, `kill`, `rm`, `revive`).
//!
//! `walkie screen NAME --png FILE` fetches the host's cell snapshot (secrets masked there)
//! and draws it with walkie-screenshot off the async runtime (a few ms of CPU).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use walkie_config::Config;
use walkie_host_proto::client::{Client, ClientError};
use walkie_host_proto::keys::Key;
use walkie_host_proto::protocol::ErrorKind;
use walkie_host_proto::revival::RevivePlan;
use walkie_host_proto::{NewSession, SessionInfo};

use super::host::spawn_host_for;

/// The subcommands that talk to a running session host.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create a session running CMD (default: your shell).
    New(NewArgs),
    /// List sessions.
    Ls {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Type text into a session, then press Enter.
    Send(SendArgs),
    /// Print the session's current screen (secrets masked), or save it as a picture.
    Screen {
        name: String,
        /// Keep colours and attributes (ANSI escape sequences).
        #[arg(long, conflicts_with = "png")]
        ansi: bool,
        /// Write the screen as a PNG picture to FILE instead of printing it.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Print the last lines of the session's scrollback.
    Tail {
        name: String,
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: usize,
    },
    /// Attach this terminal to a session (detach with Ctrl-\ then d... see README).
    Attach { name: String },
    /// Stop the session's processes (SIGSTOP); input is kept until resume.
    Pause { name: String },
    /// Continue a paused session (SIGCONT) and deliver kept input.
    Resume { name: String },
    /// End a session: SIGHUP+SIGTERM, then SIGKILL after a grace period.
    Kill {
        name: String,
        /// SIGKILL at once.
        #[arg(long)]
        force: bool,
    },
    /// Forget an exited or lost session.
    Rm { name: String },
    /// Start a lost session again with its command and working directory.
    Revive { name: String },
    /// Show a session's boundary (sandbox, write areas, network, blocked attempts); widen its
    /// network live with --allow DOMAIN or --open-network.
    Boundary {
        name: String,
        /// Let this domain (`pypi.org`, `*.pythonhosted.org`) through the session's proxy.
        #[arg(long, conflicts_with = "open_network")]
        allow: Option<String>,
        /// Let every domain through the session's proxy.
        #[arg(long)]
        open_network: bool,
        /// The boundary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `walkie new`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// Session name: a-z, 0-9, '.', '_', '-' (up to 32).
    pub name: String,
    /// Working directory (default: the current one).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Start a preset from the config (e.g. claude, codex, shell) instead of CMD.
    #[arg(long, conflicts_with = "command")]
    pub preset: Option<String>,
    /// Sandbox profile: off, workspace, readonly or one of [sandbox.profiles] (default: the
    /// preset's, else sandbox.default_profile).
    #[arg(long)]
    pub sandbox: Option<String>,
    /// Network of the sandbox: off (loopback only), allowlist (through walkie's proxy) or open.
    #[arg(long)]
    pub network: Option<walkie_host_proto::sandbox::NetworkMode>,
    /// Command and arguments (default: your shell).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Arguments of `walkie send`.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
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

/// Connects to the host (starting one unless `no_spawn`).
pub(crate) async fn connect(cfg: &Config, no_spawn: bool) -> anyhow::Result<Client> {
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
    if e.downcast_ref::<walkie_host_proto::name::BadAddress>()
        .is_some()
    {
        return ExitCode::from(2);
    }
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
pub(crate) fn run_client(
    cfg: Config,
    no_spawn: bool,
    command: Command,
) -> anyhow::Result<ExitCode> {
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

/// This process's environment for a session started from it: without the secrets (the host
/// strips them too, but they need not cross the socket) and without variables of walkie's own
/// that the host sets for each session or that would change how walkie inside it logs.
fn caller_env(cfg: &Config) -> Vec<(String, String)> {
    let secrets = cfg.secret_env_names();
    std::env::vars()
        .filter(|(k, _)| {
            !secrets.contains(k) && !matches!(k.as_str(), "WALKIE_SESSION" | "RUST_LOG")
        })
        .collect()
}

impl Command {
    /// The session the command names (`NAME` or `NAME@HOST`), if it names one.
    fn session_mut(&mut self) -> Option<&mut String> {
        match self {
            Command::New(a) => Some(&mut a.name),
            Command::Send(a) => Some(&mut a.name),
            Command::Ls { .. } => None,
            Command::Screen { name, .. }
            | Command::Tail { name, .. }
            | Command::Attach { name }
            | Command::Pause { name }
            | Command::Resume { name }
            | Command::Kill { name, .. }
            | Command::Rm { name }
            | Command::Revive { name }
            | Command::Boundary { name, .. } => Some(name),
        }
    }
}

async fn client_command(
    cfg: &Config,
    no_spawn: bool,
    mut command: Command,
) -> anyhow::Result<ExitCode> {
    if let Command::Ls { json } = command {
        if !cfg.hosts.is_empty() {
            return ls_all(cfg, no_spawn, json).await;
        }
    }
    let is_new = matches!(command, Command::New(_));
    let mut target = match command.session_mut() {
        Some(name) => {
            let addr = walkie_host_proto::name::Address::parse(name)?;
            *name = addr.name.to_string();
            if is_new {
                // A new session goes where it is told: here unless `NAME@HOST`.
                super::target::open(cfg, no_spawn, addr.host.as_deref()).await?
            } else {
                super::target::for_session(cfg, no_spawn, &addr).await?
            }
        }
        None => super::target::local(cfg, no_spawn).await?,
    };
    let remote = target.host.is_some();
    let host_label = target
        .host
        .clone()
        .unwrap_or_else(|| walkie_config::hosts::LOCAL_HOST.to_string());
    let c = &mut target.client;
    match command {
        Command::New(a) => {
            // The same expansion as `/new NAME PRESET`, agent hooks included.
            // On another box the preset is that box's: asked for by name and expanded there
            // (its walkie in the hooks, its state dir for the agent's home).
            let expand = remote && a.preset.is_some();
            let (command, cwd, preset_env, preset, resume, sandbox, network) = match &a.preset {
                Some(p) if remote => (
                    Vec::new(),
                    a.cwd.clone(),
                    Vec::new(),
                    Some(p.clone()),
                    None,
                    None,
                    None,
                ),
                Some(p) => {
                    let l = walkie_console::presets::expand(cfg, p, &a.name)?;
                    // A preset's cwd means what it means on the phone (~, projects_dir).
                    let cwd = match (&a.cwd, &l.cwd) {
                        (Some(d), _) => Some(d.clone()),
                        (None, Some(c)) => Some(walkie_console::presets::session_dir(
                            cfg,
                            &c.to_string_lossy(),
                            std::env::var_os("HOME").map(PathBuf::from).as_deref(),
                        )?),
                        (None, None) => None,
                    };
                    (
                        l.command, cwd, l.env, l.preset, l.resume, l.sandbox, l.network,
                    )
                }
                None => (
                    a.command.clone(),
                    a.cwd.clone(),
                    Vec::new(),
                    None,
                    None,
                    None,
                    None,
                ),
            };
            // Another box's profiles are its own: it checks them.
            if let Some(p) = a.sandbox.as_ref().filter(|_| !remote) {
                if cfg.sandbox.profile(p).is_err() {
                    anyhow::bail!(
                        "--sandbox {p}: there is no such profile; use off, workspace, readonly or one of [sandbox.profiles]"
                    );
                }
            }
            let sandbox = a.sandbox.clone().or(sandbox);
            let network = a.network.or(network);
            // From a terminal the session gets the caller's environment, as running the
            // command there would (PATH, credentials...), whatever environment the host was
            // started with; the preset's env goes on top.
            // On another box this terminal's environment and directory mean nothing: the
            // session gets that host's environment, and `--cwd` as written (else the host's
            // home directory).
            let mut env = if remote { Vec::new() } else { caller_env(cfg) };
            env.extend(preset_env);
            let cwd = match cwd {
                Some(d) if remote => Some(d),
                Some(d) => Some(
                    std::path::absolute(&d).with_context(|| format!("--cwd {}", d.display()))?,
                ),
                None if remote => None,
                None => Some(std::env::current_dir().context("reading the current directory")?),
            };
            let name = c
                .new_session(NewSession {
                    name: a.name,
                    command,
                    cwd,
                    env,
                    size: None,
                    record: true,
                    preset,
                    resume,
                    sandbox,
                    network,
                    expand,
                })
                .await
                .map_err(|e| match remote {
                    // The error (e.g. no such preset) is the box's: say which box.
                    true => anyhow::Error::new(e).context(format!("on {host_label}")),
                    false => e.into(),
                })?;
            println!("{name}");
        }
        Command::Ls { json } => {
            let sessions = c.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            } else {
                print!("{}", format_table(&sessions));
                for line in super::unposted::lines(cfg).await {
                    println!("{line}");
                }
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
        Command::Screen {
            name,
            png: Some(file),
            ..
        } => {
            let snapshot = c.snapshot(&name).await?;
            let title = walkie_screenshot::Title {
                session: name,
                host: host_label,
                time: local_time(),
            };
            let path = file.clone();
            tokio::task::spawn_blocking(move || save_png(&snapshot, title, &path))
                .await
                .context("the picture's task")??;
            println!("{}", file.display());
        }
        Command::Screen { name, ansi, .. } => {
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
        Command::Boundary {
            name,
            allow,
            open_network,
            json,
        } => {
            use walkie_host_proto::sandbox::Widen;
            let change = match (allow, open_network) {
                (Some(domain), _) => Some(Widen::AllowDomain { domain }),
                (None, true) => Some(Widen::OpenNetwork),
                (None, false) => None,
            };
            let b = match change {
                Some(change) => c.widen(&name, change, "cli").await?,
                None => c.boundary(&name).await?,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                print!("{}", walkie_console::boundary::text(&b));
            }
        }
        Command::Revive { name } => {
            // What the host is about to do, said before it does it.
            let plan = c
                .list()
                .await?
                .into_iter()
                .find(|s| s.name == name)
                .and_then(|s| s.revive);
            let name = c.revive(&name).await?;
            match plan {
                Some(RevivePlan::Resume { command }) => {
                    println!("{name}: resumed ({})", command.join(" "))
                }
                Some(RevivePlan::Shell { why }) => {
                    println!("{name}: a shell, as it could not be resumed: {why}")
                }
                Some(RevivePlan::Restart) | None => println!("{name}"),
            }
        }
        Command::Attach { name } => {
            return super::attach::attach(target.client, target.socket, &name).await
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `walkie ls` with hosts configured: one table with a HOST column, then a line for each
/// host that could not be reached.
async fn ls_all(cfg: &Config, no_spawn: bool, json: bool) -> anyhow::Result<ExitCode> {
    let all = super::target::list_all(cfg, no_spawn).await;
    if json {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|(host, r)| match r {
                Ok(sessions) => serde_json::json!({"host": host, "sessions": sessions}),
                Err(e) => serde_json::json!({"host": host, "error": format!("{e:#}")}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    let mut down = Vec::new();
    for (host, r) in all {
        match r {
            Ok(sessions) => rows.extend(sessions.into_iter().map(|s| (host.clone(), s))),
            Err(e) => down.push(format!("{host}: {e:#}")),
        }
    }
    print!("{}", format_hosts_table(&rows));
    for d in &down {
        println!("{d}");
    }
    Ok(ExitCode::SUCCESS)
}

/// [`format_table`] with a HOST column in front.
fn format_hosts_table(rows: &[(String, SessionInfo)]) -> String {
    let sessions: Vec<SessionInfo> = rows.iter().map(|(_, s)| s.clone()).collect();
    let table = format_table(&sessions);
    if sessions.is_empty() {
        return table;
    }
    let width = rows
        .iter()
        .map(|(h, _)| h.len())
        .max()
        .unwrap_or(0)
        .max("HOST".len());
    let hosts = std::iter::once("HOST").chain(rows.iter().map(|(h, _)| h.as_str()));
    table
        .lines()
        .zip(hosts)
        .map(|(line, host)| format!("{host:width$}  {line}\n"))
        .collect()
}

/// Draws `snapshot` and writes it to `path` atomically (a temporary file beside it, then a
/// rename), so a reader never sees half a picture. Blocking: CPU and file I/O.
fn save_png(
    snapshot: &walkie_host_proto::snapshot::Snapshot,
    title: walkie_screenshot::Title,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let mut r = walkie_screenshot::Renderer::new(walkie_screenshot::PHONE_FONT_PX)
        .context("loading the embedded font")?;
    let options = walkie_screenshot::RenderOptions {
        title,
        ..Default::default()
    };
    let png = r
        .render_png(snapshot, &options)
        .context("drawing the screen")?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    if let Err(e) = std::fs::write(&tmp, &png).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// The local time as "YYYY-MM-DD HH:MM" for a picture's title bar.
fn local_time() -> String {
    let now: libc::time_t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only into `tm`, which outlives the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return String::new();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
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
pub(crate) fn format_table(sessions: &[SessionInfo]) -> String {
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
            let state = match &s.revive {
                Some(RevivePlan::Resume { .. }) => format!("{} (resumable)", s.state.label()),
                Some(RevivePlan::Shell { .. }) => format!("{} (not resumable)", s.state.label()),
                _ => s.state.label(),
            };
            [
                s.name.clone(),
                state,
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
    for s in sessions {
        if let Some(RevivePlan::Shell { why }) = &s.revive {
            out.push_str(&format!(
                "{}: `walkie revive {}` starts a shell: {why}\n",
                s.name, s.name
            ));
        }
    }
    out
}
