//! `walkie transcribe` and `walkie model`.
//!
//! Exit codes of `walkie transcribe` (with several files, the first failure's code; the
//! other files are still transcribed):
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | every file transcribed (silence gives an empty line) |
//! | 1 | other failure (unreadable file, whisper error) |
//! | 2 | bad command line |
//! | 3 | no model found (the message says how to download one) |
//! | 4 | the model file is corrupt or whisper.cpp refused it |
//! | 5 | not audio, unsupported codec, or damaged audio |
//! | 6 | empty audio |
//! | 7 | audio longer than `transcription.max_duration_s` |
//!
//! `walkie model download` exits 0 when the model is installed, 4 when the download did not
//! match its checksum, 1 on other failures; nothing is left under the model's name unless
//! it was verified.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use walkie_config::Config;
use walkie_transcription::download::{self, DownloadError, DEFAULT_BASE_URL, DEFAULT_MODEL};
use walkie_transcription::{audio, model};
use walkie_transcription::{Options, Settings, TranscribeError, Transcriber};

/// Arguments of `walkie transcribe`.
#[derive(Debug, clap::Args)]
pub(crate) struct TranscribeArgs {
    /// Audio files (Telegram OGG/Opus voice notes or 16-bit PCM WAV).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// ggml whisper model file (default: WALKIE_MODEL, the config, then <data dir>/models).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print one JSON object per file (text, segments, language, timings).
    #[arg(long)]
    pub json: bool,
    /// Words to bias recognition towards, comma-separated (e.g. pytest,cargo,PR).
    #[arg(long, value_delimiter = ',')]
    pub vocab: Vec<String>,
    /// whisper threads (default: transcription.threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Always use whisper's full 30 s encoder window (slower on short notes).
    #[arg(long)]
    pub full_window: bool,
    /// Decoder beams: 1 = greedy (default: transcription.beam_size, 5 as whisper.cpp's CLI).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub beam_size: Option<u32>,
}

/// Arguments of `walkie model`.
#[derive(Debug, clap::Args)]
pub(crate) struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ModelCommand {
    /// Download a whisper model (tiny.en, base.en, small.en, ...) into the data dir.
    Download {
        #[arg(default_value = DEFAULT_MODEL)]
        name: String,
        /// Base URL to download from (the file name ggml-NAME.bin is appended).
        #[arg(long, env = "WALKIE_MODEL_BASE_URL", default_value = DEFAULT_BASE_URL)]
        base_url: String,
    },
    /// List installed models.
    List,
}

/// The exit code for an error (see the module docs).
pub(crate) fn exit_code(e: &TranscribeError) -> u8 {
    match e {
        TranscribeError::ModelMissing { .. } => 3,
        TranscribeError::ModelCorrupt { .. } | TranscribeError::ModelLoad { .. } => 4,
        TranscribeError::NotAudio { .. }
        | TranscribeError::UnsupportedCodec { .. }
        | TranscribeError::Damaged { .. } => 5,
        TranscribeError::EmptyAudio => 6,
        TranscribeError::TooLong { .. } | TranscribeError::TooLarge { .. } => 7,
        TranscribeError::Io { .. } | TranscribeError::Whisper(_) | TranscribeError::QueueClosed => {
            1
        }
    }
}

fn models_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir().join("models")
}

pub(crate) fn run_transcribe(cfg: &Config, args: TranscribeArgs) -> anyhow::Result<ExitCode> {
    // Find the model first (cheap) so a missing model is reported before anything else,
    // then decode every file, and verify and load the model only if one of them is audio:
    // a bad input fails in milliseconds, without the model's checksum pass.
    let model_path = match model::find_model(
        args.model.as_deref(),
        cfg.transcription.model.as_deref(),
        &models_dir(cfg),
    ) {
        Ok((p, _)) => p,
        Err(e) => {
            eprintln!("walkie: {e}");
            return Ok(ExitCode::from(exit_code(&e)));
        }
    };
    let max_s = cfg.transcription.max_duration_s;
    let decoded: Vec<_> = args
        .files
        .iter()
        .map(|f| {
            let t = Instant::now();
            audio::decode_file(f, max_s).map(|a| (a, t.elapsed()))
        })
        .collect();
    let mut transcriber = None;
    if decoded.iter().any(|d| d.is_ok()) {
        let settings = Settings {
            threads: args.threads.unwrap_or(cfg.transcription.threads as usize),
            max_duration_s: max_s,
            beam_size: args
                .beam_size
                .unwrap_or(u32::from(cfg.transcription.beam_size)),
        };
        match Transcriber::load(&model_path, settings) {
            Ok(t) => transcriber = Some(t),
            Err(e) => {
                eprintln!("walkie: {e}");
                return Ok(ExitCode::from(exit_code(&e)));
            }
        }
    }
    let opts = Options {
        vocabulary: args.vocab.clone(),
        full_window: args.full_window,
        ..Options::default()
    };
    let several = args.files.len() > 1;
    let mut code = 0u8;
    let stdout = std::io::stdout();
    for (file, decoded) in args.files.iter().zip(decoded) {
        let result = decoded.and_then(|(audio, decode_time)| {
            let t = transcriber.as_ref().ok_or(TranscribeError::QueueClosed)?;
            let mut r = t.transcribe_audio(&audio, &opts)?;
            r.decode_ms = (decode_time.as_secs_f64() * 1e6).round() / 1e3;
            Ok(r)
        });
        let mut out = stdout.lock();
        match result {
            Ok(t) => {
                if args.json {
                    let mut v = serde_json::to_value(&t)?;
                    v["file"] = serde_json::Value::String(file.display().to_string());
                    if let Some(tr) = &transcriber {
                        v["model"] =
                            serde_json::Value::String(tr.model_path().display().to_string());
                        v["model_load_ms"] =
                            serde_json::json!((tr.load_time().as_secs_f64() * 1e6).round() / 1e3);
                    }
                    writeln!(out, "{v}")?;
                } else if several {
                    writeln!(out, "{}: {}", file.display(), t.text)?;
                } else {
                    writeln!(out, "{}", t.text)?;
                }
            }
            Err(e) => {
                eprintln!("walkie: {}: {e}", file.display());
                if args.json {
                    let v = serde_json::json!({
                        "file": file.display().to_string(),
                        "error": { "kind": e.kind(), "message": e.to_string() },
                    });
                    writeln!(out, "{v}")?;
                }
                if code == 0 {
                    code = exit_code(&e);
                }
            }
        }
    }
    Ok(ExitCode::from(code))
}

pub(crate) fn run_model(cfg: &Config, args: ModelArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ModelCommand::Download { name, base_url } => download_cmd(cfg, &name, &base_url),
        ModelCommand::List => list_cmd(cfg),
    }
}

/// Progress on stderr: a redrawn bar on a terminal, a line per 10 % otherwise (logs).
struct ProgressPrinter {
    tty: bool,
    last_tenth: Option<u64>,
    last_draw: Option<Instant>,
}

impl ProgressPrinter {
    fn update(&mut self, done: u64, total: Option<u64>) {
        let mb = |b: u64| b as f64 / 1e6;
        let mut err = std::io::stderr().lock();
        match total {
            Some(total) if total > 0 => {
                let pct = done.saturating_mul(100) / total;
                if self.tty {
                    let now = Instant::now();
                    if done < total
                        && self
                            .last_draw
                            .is_some_and(|t| now.duration_since(t).as_millis() < 100)
                    {
                        return;
                    }
                    self.last_draw = Some(now);
                    let filled = (pct / 4) as usize;
                    let _ = write!(
                        err,
                        "\r[{}{}] {pct:3}% {:.1}/{:.1} MB",
                        "#".repeat(filled),
                        " ".repeat(25 - filled.min(25)),
                        mb(done),
                        mb(total)
                    );
                    if done >= total {
                        let _ = writeln!(err);
                    }
                } else {
                    let tenth = pct / 10;
                    if self.last_tenth != Some(tenth) {
                        self.last_tenth = Some(tenth);
                        let _ = writeln!(
                            err,
                            "downloaded {pct}% ({:.1} of {:.1} MB)",
                            mb(done),
                            mb(total)
                        );
                    }
                }
            }
            _ => {
                // Unknown length: report every 10 MB.
                let tens = done / 10_000_000;
                if self.last_tenth != Some(tens) {
                    self.last_tenth = Some(tens);
                    let _ = writeln!(err, "downloaded {:.1} MB", mb(done));
                }
            }
        }
    }
}

fn download_cmd(cfg: &Config, name: &str, base_url: &str) -> anyhow::Result<ExitCode> {
    let dir = models_dir(cfg);
    eprintln!("downloading {name} from {base_url} into {}", dir.display());
    let mut printer = ProgressPrinter {
        tty: std::io::stderr().is_terminal(),
        last_tenth: None,
        last_draw: None,
    };
    match download::download(name, base_url, &dir, &mut |done, total| {
        printer.update(done, total)
    }) {
        Ok(d) => {
            if d.already_present {
                eprintln!("{} is already installed and verified", d.path.display());
            } else {
                eprintln!(
                    "checksum verified (sha1 {}, sha256 {})",
                    d.digests.sha1, d.digests.sha256
                );
            }
            println!("{}", d.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("walkie: {e}");
            let code = match e {
                DownloadError::ChecksumMismatch { .. } => 4,
                DownloadError::UnknownModel { .. } => 2,
                _ => 1,
            };
            Ok(ExitCode::from(code))
        }
    }
}

fn list_cmd(cfg: &Config) -> anyhow::Result<ExitCode> {
    let dir = models_dir(cfg);
    let installed = model::installed_models(&dir);
    let mut out = std::io::stdout().lock();
    if let Some(p) = &cfg.transcription.model {
        writeln!(
            out,
            "configured: {} (WALKIE_MODEL or transcription.model){}",
            p.display(),
            if p.exists() { "" } else { " - missing" }
        )?;
    }
    if installed.is_empty() {
        writeln!(
            out,
            "no models in {}; get one with `{}`",
            dir.display(),
            walkie_transcription::MODEL_FIX_COMMAND
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "models in {}:", dir.display())?;
    for (i, m) in installed.iter().enumerate() {
        let name = m
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = m
            .known
            .map(|k| format!("known model {k}"))
            .unwrap_or_else(|| "unknown model".into());
        let default = if i == 0 && cfg.transcription.model.is_none() {
            ", used by default"
        } else {
            ""
        };
        writeln!(
            out,
            "  {name}\t{:.1} MB\t{kind}{default}",
            m.bytes as f64 / 1e6
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
