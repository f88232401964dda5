//! walkie's local speech-to-text: Telegram voice notes (Ogg/Opus) and WAV files to text
//! with whisper.cpp (through whisper-rs), on the same machine, no cloud service.
//!
//! ```no_run
//! use std::sync::Arc;
//! use walkie_transcription::{Input, Options, Queue, Settings, Transcriber};
//!
//! let t = Arc::new(Transcriber::load("ggml-tiny.en.bin".as_ref(), Settings::default())?);
//! let queue = Queue::new(t, 1);
//! let opts = Options { vocabulary: vec!["pytest".into(), "cargo".into()], ..Options::default() };
//! let transcript = queue.submit(Input::File("note.ogg".into()), opts).wait()?;
//! println!("{}", transcript.text);
//! # Ok::<(), walkie_transcription::TranscribeError>(())
//! ```
//!
//! The model is verified ([`model::verify`]) and loaded once; each job gets its own whisper
//! state. Decoding is whisper.cpp's CLI default (beam search 5, flash attention), so a
//! transcript has the CLI's words; [`Settings::beam_size`] 1 switches to greedy. Short notes use a reduced encoder window (`audio_ctx`) with a fallback to the
//! full 30 s window when the result looks wrong; silence never reaches whisper, known
//! hallucinations and non-speech segments are dropped, and decoder loops are cut.
//! whisper.cpp's own logging goes to `tracing` (target `whisper_cpp`), not to stderr.
//!
//! # Layout
//! - [`audio`]: Ogg/Opus and WAV decoding to 16 kHz mono `f32`, resampling.
//! - [`model`]: known models and their checksums, verification before loading, model lookup.
//! - [`transcriber`]: [`Transcriber`] (the warm model), per-job [`Options`], the
//!   [`Transcript`] result, encoder-window choice and hallucination guards.
//! - [`queue`]: [`Queue`], worker threads in front of one transcriber.
//! - [`names`]: session names in a transcript ("Back end, ..." → `backend`), matched after
//!   transcription so no prompt costs the short encoder window.
//! - [`download`]: fetching a model into the data directory, checksum first.
//! - [`text`]: annotation stripping, hallucination strings, loop cutting, word error rate.
//! - [`error`]: [`TranscribeError`], the typed errors callers act on.

pub mod audio;
pub mod download;
pub mod error;
pub mod model;
pub mod names;
pub mod queue;
pub mod text;
pub mod transcriber;

pub use audio::Audio;
pub use error::{TranscribeError, MODEL_FIX_COMMAND};
pub use queue::{Input, Queue, Ticket};
pub use transcriber::{Options, Segment, Settings, Transcriber, Transcript, DEFAULT_BEAM_SIZE};
