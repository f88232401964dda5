//! The `walkie` command: session host, clients, transcription and the Telegram bot.
//!
//! # Layout
//! - [`cli`]: clap definitions and dispatch of every subcommand.
//! - [`cmd`]: one module per subcommand: `host`, the host clients (`new`, `ls`, `send`,
//!   ...), `attach`, `transcribe`/`model`, `ask`/`approve-hook`, `up` (the bot's wiring).
//! - [`signals`]: SIGTERM/SIGINT to a cancellation token.
//! - [`logging`]: tracing setup.
//!
//! `host_main.rs` is the root of the second binary, `walkie-host` (the daemon alone), which
//! compiles `cmd/host.rs`, `signals.rs` and `logging.rs` too.

mod cli;
mod cmd;
mod logging;
mod signals;

use std::process::ExitCode;

use clap::Parser;
use cli::Cli;

fn main() -> ExitCode {
    // The sandbox trampoline steps first, before clap, tokio or any thread: the inner step
    // forks the proxy relay and must be single-threaded, and both end in exec.
    let mut args = std::env::args();
    if let (Some(step), Some(plan), None) = (args.nth(1), args.next(), args.next()) {
        match step.as_str() {
            "sandbox-exec" => walkie_sandbox::main_outer(&plan),
            "sandbox-inner" => walkie_sandbox::main_inner(&plan),
            _ => {}
        }
    }
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("walkie: {e:#}");
            ExitCode::from(1)
        }
    }
}
