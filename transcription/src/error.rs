//! The errors a caller can act on. Each message says what went wrong and, where there is
//! one, the fix.

use std::path::PathBuf;

/// The command that installs a model; every "no model" message carries it.
pub const MODEL_FIX_COMMAND: &str = "walkie model download tiny.en";

/// Everything that can go wrong between a file and a transcript.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// The bytes are not a recognised audio container (Ogg or RIFF/WAVE).
    #[error("not an audio file ({reason}); send a voice note (Ogg/Opus) or a 16-bit PCM WAV")]
    NotAudio { reason: String },
    /// An audio container we can read, holding a codec or sample format we cannot decode.
    #[error("unsupported audio format: {what}; send a voice note (Ogg/Opus) or a 16-bit PCM WAV")]
    UnsupportedCodec { what: String },
    /// A recognised container that is cut short or broken inside.
    #[error("the audio file is damaged: {reason}")]
    Damaged { reason: String },
    /// Decoding worked but there is no sound to transcribe (zero samples).
    #[error("the audio is empty (no samples)")]
    EmptyAudio,
    /// Longer than the configured maximum.
    #[error("the audio is too long: {seconds:.0} s, the limit is {max_s} s (transcription.max_duration_s)")]
    TooLong { seconds: f64, max_s: u32 },
    /// The file is larger than any note within the limit could be; it was not read.
    #[error("the file is too large: {bytes} bytes, more than {max_bytes} bytes (the limit is {max_s} s of audio)")]
    TooLarge {
        bytes: u64,
        max_bytes: u64,
        max_s: u32,
    },
    /// No model file where one was looked for.
    #[error("no whisper model found ({looked}); get one with `{fix}` (75 MB), or `walkie model download` for base.en (142 MB, more accurate)", fix = MODEL_FIX_COMMAND)]
    ModelMissing { looked: String },
    /// A model file that would fail to load or crash whisper.cpp; it was not loaded.
    #[error("the whisper model {path} is corrupt: {reason}; delete it and run `{fix}`", fix = MODEL_FIX_COMMAND)]
    ModelCorrupt { path: PathBuf, reason: String },
    /// whisper.cpp refused a model that passed our checks.
    #[error("whisper.cpp could not load the model {path}: {reason}")]
    ModelLoad { path: PathBuf, reason: String },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// whisper.cpp failed during inference.
    #[error("transcription failed: {0}")]
    Whisper(String),
    /// The queue's workers are gone (the queue was dropped).
    #[error("the transcription queue is shut down")]
    QueueClosed,
}

impl TranscribeError {
    /// A short stable name for logs and JSON (`not_audio`, `model_missing`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            TranscribeError::NotAudio { .. } => "not_audio",
            TranscribeError::UnsupportedCodec { .. } => "unsupported_codec",
            TranscribeError::Damaged { .. } => "damaged",
            TranscribeError::EmptyAudio => "empty_audio",
            TranscribeError::TooLong { .. } => "too_long",
            TranscribeError::TooLarge { .. } => "too_large",
            TranscribeError::ModelMissing { .. } => "model_missing",
            TranscribeError::ModelCorrupt { .. } => "model_corrupt",
            TranscribeError::ModelLoad { .. } => "model_load",
            TranscribeError::Io { .. } => "io",
            TranscribeError::Whisper(_) => "whisper",
            TranscribeError::QueueClosed => "queue_closed",
        }
    }

    /// True when the input file is at fault (the next file may work); false when the
    /// model or the machine is.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            TranscribeError::NotAudio { .. }
                | TranscribeError::UnsupportedCodec { .. }
                | TranscribeError::Damaged { .. }
                | TranscribeError::EmptyAudio
                | TranscribeError::TooLong { .. }
                | TranscribeError::TooLarge { .. }
        )
    }
}

pub type Result<T, E = TranscribeError> = std::result::Result<T, E>;
