//! `walkie replay` and `walkie rec`: a session's recording, read straight from the host's
//! state directory (no host needed, so a lost session's recording plays too).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use walkie_config::Config;
use walkie_host_proto::name::SessionName;
use walkie_recording::{plan, read_session, write_cast, Cast, PlayOptions, Step};

/// Arguments of `walkie replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    pub name: String,
    /// Playback speed: 2 plays twice as fast.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Start at this second of the recording (what came before is drawn at once).
    #[arg(long, default_value_t = 0.0)]
    pub from: f64,
}

/// Arguments of `walkie rec`.
#[derive(Debug, clap::Args)]
pub(crate) struct RecArgs {
    pub name: String,
    /// The asciicast v2 file to write (all parts of the recording in one).
    #[arg(long)]
    pub out: PathBuf,
}

fn recording(cfg: &Config, name: &str) -> anyhow::Result<Cast> {
    let name = SessionName::parse(name)?;
    let dir = walkie_session_host::recordings_dir(&cfg.state_dir()).join(name.as_str());
    read_session(&dir).with_context(|| format!("reading the recording of session {name}"))
}

pub(crate) fn run_replay(cfg: &Config, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed {} is not a positive number", args.speed);
    }
    let cast = recording(cfg, &args.name)?;
    let opts = PlayOptions {
        speed: args.speed,
        from: args.from,
        ..PlayOptions::default()
    };
    let mut out = std::io::stdout().lock();
    for step in plan(&cast, opts) {
        match step {
            Step::Output { wait, bytes } => {
                std::thread::sleep(wait);
                out.write_all(bytes.as_bytes())
                    .and_then(|()| out.flush())
                    .context("writing to the terminal")?;
            }
            // This terminal keeps its size; the program redraws for the new one anyway.
            Step::Resize { wait, .. } => std::thread::sleep(wait),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_rec(cfg: &Config, args: RecArgs) -> anyhow::Result<ExitCode> {
    let cast = recording(cfg, &args.name)?;
    export(&cast, &args.out)?;
    eprintln!(
        "wrote {} ({} events, {:.1} s)",
        args.out.display(),
        cast.events.len(),
        cast.duration()
    );
    Ok(ExitCode::SUCCESS)
}

fn export(cast: &Cast, out: &Path) -> anyhow::Result<()> {
    write_cast(cast, out).with_context(|| format!("writing {}", out.display()))
}
