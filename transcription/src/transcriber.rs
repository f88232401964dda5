//! The warm model and one transcription job: decode, run whisper, clean up the result.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde::Serialize;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::audio::{self, Audio, SAMPLE_RATE};
use crate::error::{Result, TranscribeError};
use crate::model::{self, Verified};
use crate::names;
use crate::text;

/// Settings fixed when the model is loaded.
#[derive(Debug, Clone)]
pub struct Settings {
    /// whisper.cpp threads per job. See docs/PERFORMANCE.md: 1 on a busy 2-core machine.
    pub threads: usize,
    /// Longest audio accepted, in seconds.
    pub max_duration_s: u32,
    /// Decoder: beam search with this many beams (best of as many candidates at each
    /// temperature fallback), as whisper.cpp's CLI does by default; 1 = greedy.
    pub beam_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threads: 1,
            max_duration_s: 300,
            beam_size: DEFAULT_BEAM_SIZE,
        }
    }
}

/// whisper.cpp's CLI default (`-bs 5`, `-bo 5`): walkie decodes as the CLI does, so the
/// words are the CLI's (docs/PERFORMANCE.md, "Transcription").
pub const DEFAULT_BEAM_SIZE: u32 = 5;

/// Per-job options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Words to bias recognition towards (session names, tool names: pytest, cargo, PR),
    /// given to whisper as an initial prompt. A prompt makes the job use the full 30 s
    /// encoder window (the short window with a prompt changed words in our measurements),
    /// so a short note then takes as long as a 30 s one.
    pub vocabulary: Vec<String>,
    /// Session names. After transcription a note whose leading words spell one of them
    /// followed by a pause mark ("Back end, run the tests.") is addressed to it
    /// ([`names::address`]): [`Transcript::text`] becomes `name: rest` and
    /// [`Transcript::session`] the name. They are not given to whisper, so the short
    /// encoder window stays (unless [`Options::prompt_names`]).
    pub names: Vec<String>,
    /// Also give [`Options::names`] to whisper as vocabulary in the initial prompt. Off by
    /// default: the prompt costs the short window (about 2.4x slower on a short note) and
    /// the matcher recognised the names on every fixture without it (docs/PERFORMANCE.md).
    pub prompt_names: bool,
    /// Extra initial prompt text, put before the vocabulary.
    pub prompt: Option<String>,
    /// Override [`Settings::threads`] for this job.
    pub threads: Option<usize>,
    /// Language code; default `en` for English-only models, auto-detection otherwise.
    pub language: Option<String>,
    /// Always use the full 30 s encoder window (slower for short notes; for comparisons).
    pub full_window: bool,
    /// Force this encoder context for the first pass (experiments); `None`: [`short_audio_ctx`].
    pub audio_ctx: Option<u32>,
    /// Override [`Settings::beam_size`] for this job.
    pub beam_size: Option<u32>,
}

/// One piece of the transcript with its time span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
    /// whisper's probability that the segment holds no speech.
    pub no_speech_prob: f32,
}

/// The result of one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    /// The text to use: [`Transcript::heard`], or `name: rest` when the note is addressed
    /// to one of [`Options::names`]; empty when there was no speech.
    pub text: String,
    /// whisper's words, cleaned up (annotations, hallucinations and loops removed).
    pub heard: String,
    /// The session of [`Options::names`] the note's leading words name, if any.
    pub session: Option<String>,
    pub segments: Vec<Segment>,
    /// Language code (`en`).
    pub language: String,
    /// Length of the audio.
    pub audio_duration_s: f64,
    /// Time spent decoding the file to 16 kHz samples.
    pub decode_ms: f64,
    /// Time spent in whisper (all passes).
    pub transcribe_ms: f64,
    /// Encoder context used by the pass that was kept (1500 = the full 30 s window).
    pub audio_ctx: u32,
    /// True when the short-window pass looked wrong and the full window was used instead.
    pub fallback: bool,
    /// Segments dropped as non-speech or hallucination.
    pub dropped: Vec<String>,
    /// True when a repeated phrase (decoder loop) was cut.
    pub loop_cut: bool,
}

/// Peak level under which audio is treated as silence without running whisper (-60 dBFS).
const SILENCE_PEAK: f32 = 0.001;

static LOG_HOOK: Once = Once::new();

/// Routes whisper.cpp's and ggml's log output into `tracing` (target `whisper_cpp`), one
/// level down (its "info" is a page of model details on every load), instead of stderr.
pub fn install_log_hook() {
    use whisper_rs::whisper_rs_sys as sys;
    unsafe extern "C" fn hook(
        level: sys::ggml_log_level,
        text: *const std::ffi::c_char,
        _: *mut std::ffi::c_void,
    ) {
        if text.is_null() {
            return;
        }
        // SAFETY: whisper.cpp passes a NUL-terminated string valid for the call.
        let s = unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy();
        let s = s.trim_end();
        if s.is_empty() {
            return;
        }
        match level {
            sys::ggml_log_level_GGML_LOG_LEVEL_ERROR => {
                tracing::warn!(target: "whisper_cpp", "{s}")
            }
            sys::ggml_log_level_GGML_LOG_LEVEL_WARN => {
                tracing::debug!(target: "whisper_cpp", "{s}")
            }
            _ => tracing::trace!(target: "whisper_cpp", "{s}"),
        }
    }
    LOG_HOOK.call_once(|| {
        // SAFETY: the hook is a plain function valid for the whole process; no user data.
        unsafe {
            sys::whisper_log_set(Some(hook), std::ptr::null_mut());
            sys::ggml_log_set(Some(hook), std::ptr::null_mut());
        }
    });
}

/// A loaded, verified model. Cheap to share (`Arc<Transcriber>`); each job creates its own
/// whisper state, so jobs may run on several threads at once.
pub struct Transcriber {
    ctx: WhisperContext,
    model: PathBuf,
    verified: Verified,
    settings: Settings,
    english_only: bool,
    load_time: Duration,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("model", &self.model)
            .field("verified", &self.verified)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Transcriber {
    /// Verifies and loads a model (see [`model::verify`]); a file that fails verification
    /// never reaches whisper.cpp.
    pub fn load(model_path: &Path, settings: Settings) -> Result<Transcriber> {
        let start = Instant::now();
        let verified = model::verify(model_path)?;
        install_log_hook();
        let path_str = model_path
            .to_str()
            .ok_or_else(|| TranscribeError::ModelLoad {
                path: model_path.to_path_buf(),
                reason: "the path is not UTF-8".into(),
            })?;
        // Flash attention on, as whisper.cpp's own programs default to since 1.8 (whisper-rs
        // defaults it off): same arithmetic as the CLI, and a faster encoder.
        let mut cparams = WhisperContextParameters::default();
        cparams.flash_attn(true);
        let ctx = WhisperContext::new_with_params(path_str, cparams).map_err(|e| {
            TranscribeError::ModelLoad {
                path: model_path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        let english_only = !ctx.is_multilingual();
        let load_time = start.elapsed();
        tracing::debug!(model = %model_path.display(), ?verified, ?load_time, "whisper model loaded");
        Ok(Transcriber {
            ctx,
            model: model_path.to_path_buf(),
            verified,
            settings: Settings {
                threads: settings.threads.clamp(1, 64),
                beam_size: settings.beam_size.clamp(1, 16),
                ..settings
            },
            english_only,
            load_time,
        })
    }

    pub fn model_path(&self) -> &Path {
        &self.model
    }
    pub fn verified(&self) -> &Verified {
        &self.verified
    }
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    /// The model's full encoder window in positions (1500 = 30 s).
    fn full_ctx(&self) -> u32 {
        self.ctx.model_n_audio_ctx().max(1) as u32
    }

    /// Time spent verifying and loading the model.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Decodes and transcribes a file.
    pub fn transcribe_file(&self, path: &Path, opts: &Options) -> Result<Transcript> {
        let t = Instant::now();
        let audio = audio::decode_file(path, self.settings.max_duration_s)?;
        let decode = t.elapsed();
        self.transcribe_decoded(&audio, decode, opts)
    }

    /// Decodes and transcribes an in-memory file (a voice note just downloaded).
    pub fn transcribe_bytes(&self, bytes: &[u8], opts: &Options) -> Result<Transcript> {
        let t = Instant::now();
        let audio = audio::decode(bytes, self.settings.max_duration_s)?;
        let decode = t.elapsed();
        self.transcribe_decoded(&audio, decode, opts)
    }

    /// Transcribes 16 kHz mono samples.
    pub fn transcribe_audio(&self, audio: &Audio, opts: &Options) -> Result<Transcript> {
        if audio.samples.is_empty() {
            return Err(TranscribeError::EmptyAudio);
        }
        let secs = audio.duration().as_secs_f64();
        if secs > self.settings.max_duration_s as f64 {
            return Err(TranscribeError::TooLong {
                seconds: secs,
                max_s: self.settings.max_duration_s,
            });
        }
        self.transcribe_decoded(audio, Duration::ZERO, opts)
    }

    fn transcribe_decoded(
        &self,
        audio: &Audio,
        decode: Duration,
        opts: &Options,
    ) -> Result<Transcript> {
        let duration = audio.duration().as_secs_f64();
        let language = opts.language.clone().unwrap_or_else(|| {
            if self.english_only {
                "en".into()
            } else {
                "auto".into()
            }
        });
        let mut result = Transcript {
            text: String::new(),
            heard: String::new(),
            session: None,
            segments: Vec::new(),
            language: if language == "auto" {
                "en".into()
            } else {
                language.clone()
            },
            audio_duration_s: duration,
            decode_ms: ms(decode),
            transcribe_ms: 0.0,
            audio_ctx: 0,
            fallback: false,
            dropped: Vec::new(),
            loop_cut: false,
        };
        if audio.peak() < SILENCE_PEAK {
            tracing::debug!(duration, "silent audio; whisper not run");
            return Ok(result);
        }
        let start = Instant::now();
        let full_ctx = self.full_ctx();
        let short_ctx = opts
            .audio_ctx
            .unwrap_or_else(|| short_audio_ctx(audio.samples.len(), full_ctx))
            .clamp(64, full_ctx);
        // With an initial prompt the short window changes words (tiny.en on the fixtures:
        // "the proof" for "approve" at 768), while the full window keeps them; so a prompt
        // costs the short-window speed-up (docs/PERFORMANCE.md).
        let prompted = !initial_prompt(opts).is_empty() && opts.audio_ctx.is_none();
        let mut pass = if opts.full_window || prompted || short_ctx >= full_ctx {
            self.run(audio, opts, &language, full_ctx)?
        } else {
            let p = self.run(audio, opts, &language, short_ctx)?;
            if let Some(why) = looks_wrong(&p, duration) {
                tracing::debug!(
                    short_ctx,
                    why,
                    "short encoder window looked wrong; retrying with the full window"
                );
                let mut full = self.run(audio, opts, &language, full_ctx)?;
                full.fallback = true;
                full
            } else {
                p
            }
        };
        result.transcribe_ms = ms(start.elapsed());
        result.audio_ctx = pass.audio_ctx;
        result.fallback = pass.fallback;
        if let Some(l) = pass.language.take() {
            result.language = l;
        }
        let (cut_text, looped) = text::cut_repetition(&pass.text());
        // Keep segments up to the first loop; cut inside the segment where it starts.
        let mut kept_words = 0usize;
        let limit = cut_text.split_whitespace().count();
        for seg in pass.segments {
            if looped && kept_words >= limit {
                break;
            }
            let mut seg = seg;
            if looped {
                let w = seg.text.split_whitespace().collect::<Vec<_>>();
                let room = limit - kept_words;
                if w.len() > room {
                    seg.text = w[..room].join(" ");
                }
            }
            kept_words += seg.text.split_whitespace().count();
            result.segments.push(seg);
        }
        result.loop_cut = looped;
        result.dropped = pass.dropped;
        result.heard = result
            .segments
            .iter()
            .map(|s| s.text.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        result.text = match names::address(&result.heard, &opts.names) {
            Some(a) => {
                result.session = Some(a.session.clone());
                a.routable()
            }
            None => result.heard.clone(),
        };
        Ok(result)
    }

    /// One whisper pass with an encoder context of `audio_ctx` positions (20 ms each).
    fn run(&self, audio: &Audio, opts: &Options, language: &str, audio_ctx: u32) -> Result<Pass> {
        let duration = audio.duration().as_secs_f64();
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| TranscribeError::Whisper(format!("cannot create a whisper state: {e}")))?;
        let beams = opts
            .beam_size
            .unwrap_or(self.settings.beam_size)
            .clamp(1, 16) as i32;
        // whisper-cli's choice: beam search when beams > 1 (whisper.cpp's beam-search
        // defaults keep best-of 5 candidates for the temperature-fallback passes, as -bo 5).
        let mut params = if beams > 1 {
            FullParams::new(SamplingStrategy::BeamSearch {
                beam_size: beams,
                patience: -1.0,
            })
        } else {
            FullParams::new(SamplingStrategy::Greedy { best_of: 1 })
        };
        params.set_n_threads(opts.threads.unwrap_or(self.settings.threads).clamp(1, 64) as i32);
        params.set_language(Some(language));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_no_speech_thold(0.6);
        params.set_audio_ctx(if audio_ctx >= self.full_ctx() {
            0
        } else {
            audio_ctx as i32
        });
        let prompt = initial_prompt(opts);
        if !prompt.is_empty() {
            params.set_initial_prompt(&prompt);
        }
        state
            .full(params, &audio.samples)
            .map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let eot = self.ctx.token_eot();
        let mut pass = Pass {
            segments: Vec::new(),
            dropped: Vec::new(),
            audio_ctx,
            fallback: false,
            language: None,
            raw_words: 0,
        };
        let lang_id = state.full_lang_id_from_state();
        if lang_id >= 0 {
            pass.language = whisper_rs::get_lang_str(lang_id).map(str::to_string);
        }
        for seg in state.as_iter() {
            let raw = seg
                .to_str_lossy()
                .map(|s| s.into_owned())
                .unwrap_or_default();
            let start_s = seg.start_timestamp() as f64 / 100.0;
            let end_s = seg.end_timestamp() as f64 / 100.0;
            let no_speech = seg.no_speech_probability();
            let mut probs = Vec::new();
            for i in 0..seg.n_tokens() {
                if let Some(tok) = seg.get_token(i) {
                    if tok.token_id() < eot {
                        probs.push(tok.token_probability());
                    }
                }
            }
            let mean_p = if probs.is_empty() {
                0.0
            } else {
                probs.iter().sum::<f32>() / probs.len() as f32
            };
            pass.raw_words += raw.split_whitespace().count();
            let clean = text::strip_annotations(&raw);
            let drop = if clean.is_empty() {
                Some("annotation")
            } else {
                match text::hallucination(&clean) {
                    Some(true) => Some("known hallucination"),
                    Some(false) if no_speech > 0.3 || mean_p < 0.6 => {
                        Some("weak phrase on non-speech")
                    }
                    _ if no_speech > 0.6 && mean_p < 0.5 => Some("no speech"),
                    _ => None,
                }
            };
            tracing::debug!(start_s, end_s, no_speech, mean_p, text = %raw, dropped = ?drop, "segment");
            match drop {
                Some(why) if !clean.is_empty() => pass.dropped.push(format!("{clean} ({why})")),
                Some(_) => {}
                // With a short window the last end snaps to the window's end: clamp to the audio.
                None => pass.segments.push(Segment {
                    start_s: start_s.min(duration),
                    end_s: end_s.min(duration),
                    text: clean,
                    no_speech_prob: no_speech,
                }),
            }
        }
        Ok(pass)
    }
}

struct Pass {
    segments: Vec<Segment>,
    dropped: Vec<String>,
    audio_ctx: u32,
    fallback: bool,
    language: Option<String>,
    raw_words: usize,
}

impl Pass {
    /// The kept segments' text, joined.
    fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Smallest encoder context used for short notes (768 positions = 15.36 s). With beam
/// search (the default decoder) smaller windows changed words on the voice-note fixtures
/// with tiny.en (512: "prove" for "approve" in a 5 s note, 576/640: "ligand" for "login");
/// 768 gave the full window's words, i.e. whisper.cpp's CLI's, on every one
/// (docs/PERFORMANCE.md, "Where the time goes").
pub const MIN_SHORT_CTX: u32 = 768;

/// The encoder context for a clip of `samples` 16 kHz samples: its length in encoder
/// positions (20 ms each) plus 2.56 s of margin, rounded up to a multiple of 64 positions
/// and at least [`MIN_SHORT_CTX`], never more than the model's full window.
pub fn short_audio_ctx(samples: usize, full_ctx: u32) -> u32 {
    let positions = samples.div_ceil(SAMPLE_RATE as usize / 50) as u32;
    (positions + 128)
        .next_multiple_of(64)
        .max(MIN_SHORT_CTX)
        .min(full_ctx)
}

/// Why a short-window pass should be redone with the full window, if it should: the
/// decoder looped, produced more words than anyone speaks, or produced nothing from audio
/// that is clearly not silent.
fn looks_wrong(p: &Pass, duration: f64) -> Option<&'static str> {
    if text::cut_repetition(&p.text()).1 {
        return Some("repetition");
    }
    if p.raw_words as f64 > 6.0 * duration.max(1.0) + 3.0 {
        return Some("too many words");
    }
    // Timestamps are not checked: with a short window the last segment's end snaps to the
    // end of the window, which is harmless.
    if p.segments.is_empty() && p.dropped.is_empty() {
        return Some("no text");
    }
    None
}

/// The initial prompt: the caller's text, then the vocabulary as a list sentence.
pub fn initial_prompt(opts: &Options) -> String {
    let mut parts = Vec::new();
    if let Some(p) = opts
        .prompt
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        parts.push(p.to_string());
    }
    let prompted_names = if opts.prompt_names {
        opts.names.as_slice()
    } else {
        &[]
    };
    let vocab: Vec<&str> = opts
        .vocabulary
        .iter()
        .chain(prompted_names)
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .collect();
    if !vocab.is_empty() {
        parts.push(format!("{}.", vocab.join(", ")));
    }
    // whisper keeps at most half its text context (224 tokens) of prompt; stay well under.
    let mut s = parts.join(" ");
    if s.len() > 600 {
        let mut cut = 600;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_ctx_for_short_clips() {
        assert_eq!(short_audio_ctx(16_000, 1500), 768);
        assert_eq!(short_audio_ctx(16_000 * 8, 1500), 768);
        assert_eq!(short_audio_ctx(16_000 * 15, 1500), 896);
        assert_eq!(short_audio_ctx(16_000 * 29, 1500), 1500);
        assert_eq!(short_audio_ctx(16_000 * 60, 1500), 1500);
    }

    #[test]
    fn prompt() {
        let o = Options {
            vocabulary: vec!["pytest".into(), " cargo".into(), "".into(), "PR".into()],
            ..Options::default()
        };
        assert_eq!(initial_prompt(&o), "pytest, cargo, PR.");
        assert_eq!(initial_prompt(&Options::default()), "");
        // Session names reach the prompt only when asked for.
        let names = Options {
            names: vec!["backend".into(), "web2".into()],
            ..Options::default()
        };
        assert_eq!(initial_prompt(&names), "");
        let prompted = Options {
            prompt_names: true,
            ..names
        };
        assert_eq!(initial_prompt(&prompted), "backend, web2.");
    }
}
