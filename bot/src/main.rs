//! The `walkie` command: session host, clients, transcription and the Telegram bot.

use std::process::ExitCode;

use clap::Parser;
use walkie_bot::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("walkie: {e:#}");
            ExitCode::from(1)
        }
    }
}
