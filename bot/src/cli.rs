//! The command line: one binary, clap subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use walkie_config::Config;

use crate::{ask_cmd, host_cmd, rec_cmd, transcribe_cmd};

/// walkie: persistent agent sessions you can drive from Telegram or any terminal.
#[derive(Debug, Parser)]
#[command(name = "walkie", version, about)]
pub struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/walkie/walkie.toml).
    #[arg(long, global = true, env = "WALKIE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Do not start a session host if none is running.
    #[arg(long, global = true)]
    pub no_spawn: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the session host daemon in the foreground (for systemd).
    Host,
    /// Create a session running CMD (default: your shell).
    New(host_cmd::NewArgs),
    /// List sessions.
    Ls {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Type text into a session, then press Enter.
    Send(host_cmd::SendArgs),
    /// Print the session's current screen.
    Screen {
        name: String,
        /// Keep colours and attributes (ANSI escape sequences).
        #[arg(long)]
        ansi: bool,
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
    /// Play a session's recording in this terminal (read from the state directory).
    Replay(rec_cmd::ReplayArgs),
    /// Export a session's recording as one asciicast v2 file.
    Rec(rec_cmd::RecArgs),
    /// Transcribe voice notes or WAV files with the local whisper model.
    Transcribe(transcribe_cmd::TranscribeArgs),
    /// Manage whisper models.
    Model(transcribe_cmd::ModelArgs),
    /// Run the Telegram bot (long polling) until SIGTERM or SIGINT.
    Up,
    /// Ask the phone a yes/no question: exit 0 on approve, 1 on deny or timeout.
    Ask(ask_cmd::AskArgs),
    /// Agent hook (Claude Code, Codex): reads the hook JSON on stdin, asks the phone, answers.
    ApproveHook(ask_cmd::ApproveHookArgs),
}

/// Runs one command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Host => {
            crate::logging::init("info");
            host_cmd::run_host(cfg)
        }
        Command::Transcribe(args) => {
            crate::logging::init("warn");
            transcribe_cmd::run_transcribe(&cfg, args)
        }
        Command::Model(args) => {
            crate::logging::init("warn");
            transcribe_cmd::run_model(&cfg, args)
        }
        Command::Replay(args) => {
            crate::logging::init("warn");
            rec_cmd::run_replay(&cfg, args)
        }
        Command::Rec(args) => {
            crate::logging::init("warn");
            rec_cmd::run_rec(&cfg, args)
        }
        Command::Ask(args) => {
            crate::logging::init("warn");
            ask_cmd::run_ask(&cfg, args)
        }
        Command::ApproveHook(args) => {
            crate::logging::init("warn");
            ask_cmd::run_approve_hook(&cfg, args)
        }
        Command::Up => {
            crate::logging::init("info");
            crate::telegram::run_blocking(cfg, cli.no_spawn)
        }
        other => {
            crate::logging::init("warn");
            host_cmd::run_client(cfg, cli.no_spawn, other)
        }
    }
}
