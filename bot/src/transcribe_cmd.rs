//! `walkie transcribe` and `walkie model` (filled by the transcription work).

use std::path::PathBuf;
use std::process::ExitCode;

use walkie_config::Config;

/// Arguments of `walkie transcribe`.
#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// Audio files (Telegram OGG/Opus voice notes or 16-bit PCM WAV).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// ggml whisper model file.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print segments and timings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `walkie model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Download a whisper model (tiny.en, base.en, small.en, ...) into the data dir.
    Download {
        #[arg(default_value = "base.en")]
        name: String,
        /// Base URL to download from.
        #[arg(long)]
        base_url: Option<String>,
    },
    /// List installed models.
    List,
}

pub fn run_transcribe(_cfg: &Config, _args: TranscribeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("walkie transcribe is not built yet")
}

pub fn run_model(_cfg: &Config, _args: ModelArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("walkie model is not built yet")
}
