//! walkie's session recordings: every session's output in asciicast v2 (asciinema's
//! format, so `asciinema play` and the asciinema player read the files), with markers for
//! what walkie typed and who sent it, resizes and exit; capped per session and in total,
//! rotated oldest first; the bot token and configured secrets masked before anything is
//! written.
//!
//! # Layout
//! - [`cast`]: the asciicast v2 header and events, one line each way.
//! - [`redact`]: masking secrets in a stream that arrives in chunks.
//! - [`writer`]: [`Recorder`], one session's recording: parts, rotation, the session cap.
//! - [`dir`]: the recordings folder: parts of a session, the total cap, stitching parts
//!   into one recording for export and replay.
//! - [`replay`]: a playback plan (waits and writes) for `walkie replay`.

pub mod cast;
pub mod dir;
pub mod redact;
pub mod replay;
pub mod writer;

pub use cast::{Cast, Code, Event, Header};
pub use dir::{cast_text, enforce_total, read_session, recordings_dir, write_cast};
pub use redact::Redactor;
pub use replay::{plan, PlayOptions, Step};
pub use writer::{Limits, RecordError, Recorder, Start};
