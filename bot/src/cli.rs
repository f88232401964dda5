//! The command line: one binary, clap subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use walkie_config::Config;

use crate::cmd::{ask, bridge, client, doctor, host, hosts, rec, schedule, transcribe, up};

/// walkie: persistent agent sessions you can drive from Telegram or any terminal.
#[derive(Debug, Parser)]
#[command(name = "walkie", version, about)]
pub(crate) struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/walkie/walkie.toml).
    #[arg(long, global = true, env = "WALKIE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Do not start a session host if none is running.
    #[arg(long, global = true)]
    pub(crate) no_spawn: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the session host daemon in the foreground (for systemd).
    Host,
    #[command(flatten)]
    Client(client::Command),
    /// Play a session's recording in this terminal (read from the state directory).
    Replay(rec::ReplayArgs),
    /// Export a session's recording as one asciicast v2 file.
    Rec(rec::RecArgs),
    /// Transcribe voice notes or WAV files with the local whisper model.
    Transcribe(transcribe::TranscribeArgs),
    /// Manage whisper models.
    Model(transcribe::ModelArgs),
    /// Run the Telegram bot (long polling) until SIGTERM or SIGINT.
    Up,
    /// Ask the phone a yes/no question: exit 0 on approve, 1 on deny or timeout.
    Ask(ask::AskArgs),
    /// Agent hook (Claude Code, Codex): reads the hook JSON on stdin, asks the phone, answers.
    ApproveHook(ask::ApproveHookArgs),
    /// Per preset: does its command resolve on the session PATH, which agent credential
    /// variables are set (names only), for sessions from this terminal and from the phone.
    Doctor,
    /// The far end of an ssh link from another walkie: copies the host protocol between
    /// stdin/stdout and this box's session host (starting it if needed). For
    /// `command="walkie bridge --stdio"` in authorized_keys.
    Bridge(bridge::BridgeArgs),
    /// The boxes reached over ssh: list them, add one, trust its host key, forget one.
    Hosts(hosts::HostsArgs),
    /// The bot's scheduled jobs: add, ls, rm, pause, resume, run, history (`--json`).
    Schedule(schedule::ScheduleArgs),
}

/// Runs one command and returns the process exit code.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Host = cli.command {
        // Before the configuration (and .env) is loaded: see exec_slim_host.
        host::exec_slim_host(cli.config.as_deref());
    }
    let cfg = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Host => {
            crate::logging::init("info");
            host::run_host(cfg, None)
        }
        Command::Transcribe(args) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            transcribe::run_transcribe(&cfg, args)
        }
        Command::Model(args) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            transcribe::run_model(&cfg, args)
        }
        Command::Replay(args) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            rec::run_replay(&cfg, args)
        }
        Command::Rec(args) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            rec::run_rec(&cfg, args)
        }
        Command::Ask(args) => {
            crate::logging::init("warn");
            ask::run_ask(&cfg, args)
        }
        Command::ApproveHook(args) => {
            crate::logging::init("warn");
            ask::run_approve_hook(&cfg, args)
        }
        Command::Doctor => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            doctor::run_doctor(&cfg)
        }
        Command::Bridge(args) => {
            // Nothing may write to stdout but the copy: logs go to stderr (ssh shows them
            // to the caller), and only warnings.
            crate::logging::init("warn");
            bridge::run_bridge(&cfg, cli.no_spawn, args)
        }
        Command::Hosts(args) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            let file = config_file(cli.config)?;
            hosts::run_hosts(cfg, file, args)
        }
        Command::Schedule(args) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            schedule::run_schedule(&cfg, args)
        }
        Command::Up => {
            crate::logging::init("info");
            up::run_up(cfg, cli.no_spawn)
        }
        Command::Client(c) => {
            crate::signals::exit_on_broken_pipe();
            crate::logging::init("warn");
            client::run_client(cfg, cli.no_spawn, c)
        }
    }
}

/// The config file a command that edits it writes: `--config`, `WALKIE_CONFIG`, else the
/// default path (which `walkie hosts add` may create).
fn config_file(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(f) = flag {
        return Ok(f);
    }
    let get = |k: &str| std::env::var(k).ok();
    get("WALKIE_CONFIG")
        .map(PathBuf::from)
        .or_else(|| walkie_config::paths::config_file_with(&get))
        .context("no config file path: set HOME or XDG_CONFIG_HOME, or pass --config")
}
