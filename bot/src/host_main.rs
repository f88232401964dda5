//! `walkie-host`: the session host daemon alone, what `walkie host` runs, in a binary that
//! carries only the session host. A daemon maps the pages of its own binary that it touches
//! (64 KiB per fault): in the whole `walkie` binary, with whisper.cpp, the bot, teloxide and
//! ssh beside the host, that was 11 MiB of an idle host's 20 MiB. `walkie host` execs this
//! binary when it sits beside walkie's own executable (see cmd/host.rs `exec_slim_host`).
//!
//! Usage: `walkie-host [--config FILE] [--walkie-exe PATH]`. `--walkie-exe` is the `walkie`
//! binary the host execs for what it does not carry (`walkie sandbox-exec`); without it, the
//! `walkie` beside this binary.
//!
//! # Layout
//! - `main`, [`Args`]: the two options, parsed by hand (clap is the size of the host itself).
//! - [`cmd::host`]: the same file as walkie's `cmd/host.rs`: `host_options` and `run_host`.
//! - [`signals`], [`logging`]: the same files as walkie's.

mod cmd {
    // walkie's own `cmd/host.rs`: `run_host` is shared; the on-demand spawning and the exec
    // into this binary are walkie's side and unused here.
    #[allow(dead_code)]
    pub(crate) mod host;
}
mod logging;
// `exit_on_broken_pipe` is for walkie's short-lived commands, not a daemon.
#[allow(dead_code)]
mod signals;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use walkie_config::Config;

/// The command line of `walkie-host`.
#[derive(Debug, Default, PartialEq)]
struct Args {
    config: Option<PathBuf>,
    walkie_exe: Option<PathBuf>,
}

const USAGE: &str = "usage: walkie-host [--config FILE] [--walkie-exe PATH]";

impl Args {
    /// Parses the arguments after the program name; `--opt VALUE` and `--opt=VALUE`.
    fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Args> {
        let mut out = Args::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let text = arg.to_string_lossy();
            let (name, inline) = match text.split_once('=') {
                Some((name, _)) if name.starts_with("--") => {
                    // The value is the rest of the raw argument: paths need not be UTF-8.
                    let raw = arg.as_bytes();
                    let value = OsStr::from_bytes(&raw[name.len() + 1..]).to_os_string();
                    (name.to_string(), Some(value))
                }
                _ => (text.into_owned(), None),
            };
            let slot = match name.as_str() {
                "--config" => &mut out.config,
                "--walkie-exe" => &mut out.walkie_exe,
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            };
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .with_context(|| format!("{name} needs a value\n{USAGE}"))?,
            };
            *slot = Some(PathBuf::from(value));
        }
        Ok(out)
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse(std::env::args_os().skip(1))?;
    let cfg = Config::load(args.config.as_deref()).context("loading configuration")?;
    logging::init("info");
    let walkie = match args.walkie_exe {
        Some(exe) => exe,
        None => std::env::current_exe()
            .context("finding walkie-host's own executable")?
            .with_file_name("walkie"),
    };
    cmd::host::run_host(cfg, Some(walkie))
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("walkie-host: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Args> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn both_options_in_either_spelling() {
        assert_eq!(parse(&[]).unwrap(), Args::default());
        let want = Args {
            config: Some("/c/w.toml".into()),
            walkie_exe: Some("/bin/walkie".into()),
        };
        assert_eq!(
            parse(&["--config", "/c/w.toml", "--walkie-exe", "/bin/walkie"]).unwrap(),
            want
        );
        assert_eq!(
            parse(&["--walkie-exe=/bin/walkie", "--config=/c/w.toml"]).unwrap(),
            want
        );
    }

    #[test]
    fn unknown_or_valueless_arguments_are_refused() {
        assert!(parse(&["host"]).is_err());
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["--nope=1"]).is_err());
        assert!(parse(&["--help"]).is_err());
    }
}
