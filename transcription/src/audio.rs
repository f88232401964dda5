//! Audio decoding: Ogg/Opus voice notes and PCM WAV files to 16 kHz mono `f32`, the only
//! input whisper.cpp takes.
//!
//! Opus is decoded by libopus straight at 16 kHz (libopus resamples internally, far cheaper
//! than decoding at 48 kHz and resampling), with the stream's pre-skip trimmed from the start
//! and the end trimmed to the last page's granule position. WAV is downmixed and resampled
//! with a windowed-sinc polyphase filter ([`resample`]).
//!
//! Every malformed input is an error; nothing here panics or allocates without a bound
//! (the duration limit is checked while decoding, not after).

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use crate::error::{Result, TranscribeError};

/// whisper.cpp's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// Decoded audio: 16 kHz mono samples in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
}

impl Audio {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / SAMPLE_RATE as f64)
    }

    /// Peak absolute sample value.
    pub fn peak(&self) -> f32 {
        self.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
    }

    /// Root mean square level.
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
        (sum / self.samples.len() as f64).sqrt() as f32
    }
}

/// The largest file [`decode_file`] reads for a duration limit: uncompressed 48 kHz stereo
/// 32-bit audio of that length, plus 1 MiB of headers. Anything larger cannot be a note
/// within the limit in a format we accept.
pub fn max_file_bytes(max_duration_s: u32) -> u64 {
    max_duration_s as u64 * 48_000 * 2 * 4 + (1 << 20)
}

/// Reads and decodes a file, refusing files too large for `max_duration_s` before reading them.
pub fn decode_file(path: &Path, max_duration_s: u32) -> Result<Audio> {
    let io = |source| TranscribeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(TranscribeError::NotAudio {
            reason: format!("{} is not a regular file", path.display()),
        });
    }
    let max_bytes = max_file_bytes(max_duration_s);
    if meta.len() > max_bytes {
        return Err(TranscribeError::TooLarge {
            bytes: meta.len(),
            max_bytes,
            max_s: max_duration_s,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode(&bytes, max_duration_s)
}

/// Decodes an in-memory file (format sniffed from its first bytes).
pub fn decode(bytes: &[u8], max_duration_s: u32) -> Result<Audio> {
    if bytes.is_empty() {
        return Err(TranscribeError::NotAudio {
            reason: "the file is empty".into(),
        });
    }
    let max_samples = max_duration_s as usize * SAMPLE_RATE as usize;
    let audio = if bytes.starts_with(b"OggS") {
        decode_ogg(bytes, max_samples, max_duration_s)?
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        decode_wav(bytes, max_duration_s)?
    } else {
        return Err(TranscribeError::NotAudio {
            reason: sniff(bytes),
        });
    };
    if audio.samples.is_empty() {
        return Err(TranscribeError::EmptyAudio);
    }
    Ok(audio)
}

/// A guess at what a non-audio file is, for the error message.
fn sniff(bytes: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (b"RIFF", "a RIFF file that is not WAVE"),
        (b"ID3", "MP3 (not supported)"),
        (b"fLaC", "FLAC (not supported)"),
        (b"\x1aE\xdf\xa3", "Matroska/WebM (not supported)"),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"PK\x03\x04", "a zip archive"),
    ];
    for (magic, what) in known {
        if bytes.starts_with(magic) {
            return format!("it looks like {what}");
        }
    }
    if bytes.len() >= 8 && &bytes[4..8] == b"ftyp" {
        return "it looks like MP4/M4A (not supported)".into();
    }
    let head = &bytes[..bytes.len().min(512)];
    if std::str::from_utf8(head).is_ok() {
        "it looks like text".into()
    } else {
        "unknown file signature".into()
    }
}

fn too_long(samples: usize, max_s: u32) -> TranscribeError {
    TranscribeError::TooLong {
        seconds: samples as f64 / SAMPLE_RATE as f64,
        max_s,
    }
}

fn damaged(reason: impl Into<String>) -> TranscribeError {
    TranscribeError::Damaged {
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Ogg/Opus

/// The fields of an OpusHead packet we need (RFC 7845 section 5.1).
struct OpusHead {
    channels: u8,
    pre_skip: u16,
    mapping_family: u8,
}

fn parse_opus_head(p: &[u8]) -> Result<OpusHead> {
    if !p.starts_with(b"OpusHead") {
        let what = if p.starts_with(b"\x01vorbis") {
            "Ogg Vorbis".to_string()
        } else if p.starts_with(b"Speex") {
            "Ogg Speex".to_string()
        } else if p.starts_with(b"\x7fFLAC") {
            "Ogg FLAC".to_string()
        } else {
            "an Ogg stream whose codec is not Opus".to_string()
        };
        return Err(TranscribeError::UnsupportedCodec { what });
    }
    if p.len() < 19 {
        return Err(damaged("OpusHead header is too short"));
    }
    if p[8] >> 4 != 0 {
        return Err(TranscribeError::UnsupportedCodec {
            what: format!("Opus header version {}", p[8]),
        });
    }
    Ok(OpusHead {
        channels: p[9],
        pre_skip: u16::from_le_bytes([p[10], p[11]]),
        mapping_family: p[18],
    })
}

/// The granule position of the last page of stream `serial` still to be read (the end of
/// the audio, in 48 kHz samples with the pre-skip), without decoding anything. A damaged
/// page ends the search where it is.
fn last_granule_of(reader: &mut ogg::PacketReader<Cursor<&[u8]>>, serial: u32) -> Option<u64> {
    let mut last = None;
    while let Ok(Some(p)) = reader.read_packet() {
        if p.stream_serial() == serial && p.last_in_page() {
            last = Some(p.absgp_page());
        }
    }
    last
}

fn decode_ogg(bytes: &[u8], max_samples: usize, max_s: u32) -> Result<Audio> {
    let mut reader = ogg::PacketReader::new(Cursor::new(bytes));
    let ogg_err = |e: ogg::OggReadError| damaged(format!("bad Ogg data: {e}"));

    let first = match reader.read_packet().map_err(ogg_err)? {
        Some(p) => p,
        None => return Err(damaged("Ogg file without packets")),
    };
    let serial = first.stream_serial();
    let head = parse_opus_head(&first.data)?;
    if head.channels == 0 || (head.mapping_family == 0 && head.channels > 2) {
        return Err(damaged(format!("OpusHead has {} channels", head.channels)));
    }
    if head.mapping_family != 0 {
        return Err(TranscribeError::UnsupportedCodec {
            what: format!("multichannel Opus (mapping family {})", head.mapping_family),
        });
    }
    // libopus downmixes a stereo stream when the decoder is mono.
    let mut decoder = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)
        .map_err(|e| damaged(format!("libopus: {e}")))?;

    let mut samples: Vec<f32> = Vec::new();
    // 120 ms, the longest Opus packet, at 16 kHz.
    let mut buf = vec![0f32; 1920];
    let mut saw_tags = false;
    let mut ended = false;
    let mut last_granule: Option<u64> = None;
    loop {
        let packet = match reader.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(ogg_err(e)),
        };
        if packet.stream_serial() != serial {
            continue; // another logical stream (chained or multiplexed): ignore it
        }
        if !saw_tags {
            // The second packet is OpusTags (comments).
            saw_tags = true;
            if !packet.data.starts_with(b"OpusTags") {
                return Err(damaged("missing OpusTags header"));
            }
            continue;
        }
        if packet.last_in_page() {
            last_granule = Some(packet.absgp_page());
        }
        if !packet.data.is_empty() {
            let n = decoder
                .decode_float(&packet.data, &mut buf, false)
                .map_err(|e| damaged(format!("bad Opus packet: {e}")))?;
            samples.extend_from_slice(&buf[..n.min(buf.len())]);
            // Check while decoding so a huge file is refused without decoding all of it;
            // the error names the note's whole length, from its pages' granule positions.
            if samples.len() > max_samples + (head.pre_skip as usize / 3) + buf.len() {
                let end = last_granule_of(&mut reader, serial).or(last_granule);
                let seconds = end.map_or(samples.len() as f64 / SAMPLE_RATE as f64, |g| {
                    g.saturating_sub(head.pre_skip as u64) as f64 / 48_000.0
                });
                return Err(TranscribeError::TooLong { seconds, max_s });
            }
        }
        if packet.last_in_stream() {
            ended = true;
            break;
        }
    }
    if !saw_tags {
        return Err(damaged("Ogg/Opus file without audio packets"));
    }
    if !ended {
        return Err(damaged(
            "the Ogg stream is cut short (no end-of-stream page)",
        ));
    }
    // The granule position counts 48 kHz samples including the pre-skip; it marks where
    // the real audio ends (the last packet may be padded).
    if let Some(g) = last_granule {
        let end = (g.saturating_sub(head.pre_skip as u64) / 3) as usize;
        let total = end + head.pre_skip as usize / 3;
        if total < samples.len() {
            samples.truncate(total);
        }
    }
    let skip = (head.pre_skip as usize / 3).min(samples.len());
    samples.drain(..skip);
    if samples.len() > max_samples {
        return Err(too_long(samples.len(), max_s));
    }
    Ok(Audio { samples })
}

// ---------------------------------------------------------------------------------------------
// WAV

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SampleFormat {
    Pcm16,
    Float32,
}

fn decode_wav(bytes: &[u8], max_s: u32) -> Result<Audio> {
    let mut pos = 12;
    let mut fmt: Option<(SampleFormat, u16, u32)> = None;
    let mut data: Option<&[u8]> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(bytes, pos + 4) as usize;
        let body_start = pos + 8;
        let available = bytes.len() - body_start;
        if id == b"data" {
            // 0 and 0xFFFFFFFF are what streaming recorders write before they know the size.
            let len = if size == 0 || size == u32::MAX as usize {
                available
            } else if size > available {
                return Err(damaged(format!(
                    "the WAV data chunk says {size} bytes but the file has only {available} (truncated?)"
                )));
            } else {
                size
            };
            data = Some(&bytes[body_start..body_start + len]);
            break;
        }
        if size > available {
            return Err(damaged(format!(
                "the WAV chunk {:?} runs past the end of the file",
                String::from_utf8_lossy(id)
            )));
        }
        if id == b"fmt " {
            if size < 16 {
                return Err(damaged("the WAV fmt chunk is too short"));
            }
            let b = &bytes[body_start..body_start + size];
            let mut tag = u16_at(b, 0);
            let channels = u16_at(b, 2);
            let rate = u32_at(b, 4);
            let bits = u16_at(b, 14);
            if tag == 0xFFFE && size >= 26 {
                // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first 2 bytes.
                tag = u16_at(b, 24);
            }
            let format = match (tag, bits) {
                (1, 16) => SampleFormat::Pcm16,
                (3, 32) => SampleFormat::Float32,
                (1, b) => {
                    return Err(TranscribeError::UnsupportedCodec {
                        what: format!("WAV with {b}-bit PCM (only 16-bit PCM and 32-bit float)"),
                    })
                }
                (t, _) => {
                    let name = match t {
                        2 => "ADPCM".to_string(),
                        6 => "A-law".to_string(),
                        7 => "mu-law".to_string(),
                        0x55 => "MP3".to_string(),
                        t => format!("format tag {t:#06x}"),
                    };
                    return Err(TranscribeError::UnsupportedCodec {
                        what: format!("WAV with {name} audio"),
                    });
                }
            };
            if channels == 0 || channels > 16 {
                return Err(damaged(format!("the WAV header says {channels} channels")));
            }
            if !(1_000..=768_000).contains(&rate) {
                return Err(damaged(format!("the WAV header says {rate} Hz")));
            }
            fmt = Some((format, channels, rate));
        }
        // Chunks are padded to an even size.
        pos = body_start + size + (size & 1);
    }
    let (format, channels, rate) = fmt.ok_or_else(|| damaged("WAV file without a fmt chunk"))?;
    let data = data.ok_or_else(|| damaged("WAV file without a data chunk"))?;
    let frame_bytes = channels as usize * if format == SampleFormat::Pcm16 { 2 } else { 4 };
    let frames = data.len() / frame_bytes;
    let seconds = frames as f64 / rate as f64;
    if seconds > max_s as f64 {
        return Err(TranscribeError::TooLong { seconds, max_s });
    }
    let mut mono = Vec::with_capacity(frames);
    for frame in data.chunks_exact(frame_bytes) {
        let sum: f32 = match format {
            SampleFormat::Pcm16 => frame
                .chunks_exact(2)
                .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0)
                .sum(),
            SampleFormat::Float32 => frame
                .chunks_exact(4)
                .map(|s| {
                    let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                    if v.is_finite() {
                        v.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
                .sum(),
        };
        mono.push(sum / channels as f32);
    }
    Ok(Audio {
        samples: resample(&mono, rate, SAMPLE_RATE),
    })
}

/// A 16-bit PCM WAV file holding `samples` (interleaved if `channels` > 1, clamped to
/// [-1, 1]) at `rate` Hz; for tests, benchmarks and tools.
pub fn wav_bytes(rate: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut v = Vec::with_capacity(44 + samples.len() * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    v.extend_from_slice(&(channels * 2).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        v.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Resampling

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples `input` from `from` Hz to `to` Hz with a Blackman-windowed sinc low-pass
/// (cut-off 0.45 of the lower rate, 16 zero crossings each side), as a polyphase filter:
/// the output has exactly `ceil(len * to / from)` samples.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() || from == 0 || to == 0 {
        return input.to_vec();
    }
    let g = gcd(from as u64, to as u64);
    let up = (to as u64 / g) as usize; // L: phases
    let down = (from as u64 / g) as usize; // M
    let out_len = (input.len() * up).div_ceil(down);
    // Cut-off relative to the input rate's Nyquist frequency.
    let fc = 0.9 * (to as f64 / from as f64).min(1.0);
    let zero_crossings = 16.0;
    let half = (zero_crossings / fc).ceil() as usize; // half filter length, in input samples
    let taps = 2 * half;
    // table[phase][k]: weight of input sample (base - half + 1 + k) for the output at
    // fractional position phase/up past `base`.
    let mut table = vec![0f32; up * taps];
    for phase in 0..up {
        let frac = phase as f64 / up as f64;
        let row = &mut table[phase * taps..(phase + 1) * taps];
        let mut sum = 0.0;
        for (k, w) in row.iter_mut().enumerate() {
            let x = k as f64 - (half as f64 - 1.0) - frac; // distance in input samples
            let t = x * fc;
            let sinc = if t.abs() < 1e-12 {
                1.0
            } else {
                (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
            };
            let n = (x + half as f64) / (2.0 * half as f64); // 0..1 across the window
            let win = if (0.0..=1.0).contains(&n) {
                0.42 - 0.5 * (2.0 * std::f64::consts::PI * n).cos()
                    + 0.08 * (4.0 * std::f64::consts::PI * n).cos()
            } else {
                0.0
            };
            let v = sinc * win;
            *w = v as f32;
            sum += v;
        }
        // Normalise each phase to unity gain at DC.
        if sum.abs() > 1e-12 {
            for w in row.iter_mut() {
                *w = (*w as f64 / sum) as f32;
            }
        }
    }
    let mut out = Vec::with_capacity(out_len);
    for j in 0..out_len {
        let pos = j * down; // in units of 1/up input samples
        let base = pos / up;
        let phase = pos % up;
        let row = &table[phase * taps..(phase + 1) * taps];
        let start = base as isize - half as isize + 1;
        let mut acc = 0f32;
        if start >= 0 && (start as usize + taps) <= input.len() {
            let s = &input[start as usize..start as usize + taps];
            for (a, b) in s.iter().zip(row) {
                acc += a * b;
            }
        } else {
            for (k, w) in row.iter().enumerate() {
                let i = start + k as isize;
                if i >= 0 && (i as usize) < input.len() {
                    acc += input[i as usize] * w;
                }
            }
        }
        out.push(acc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let f: Vec<f32> = samples.iter().map(|&s| s as f32 / 32767.0).collect();
        wav_bytes(rate, channels, &f)
    }

    fn tone(rate: u32, freq: f64, secs: f64) -> Vec<i16> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| {
                ((2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() * 16000.0)
                    as i16
            })
            .collect()
    }

    #[test]
    fn wav_48k_round_trips_to_16k_sample_count_and_keeps_the_tone() {
        let a = decode(&wav(48_000, 1, &tone(48_000, 440.0, 2.0)), 300).unwrap();
        assert_eq!(a.samples.len(), 32_000);
        // A 440 Hz sine at amplitude 16000/32768 has RMS 0.345; the filter passes it.
        assert!((a.rms() - 0.345).abs() < 0.01, "rms {}", a.rms());
    }

    #[test]
    fn resample_removes_content_above_the_new_nyquist() {
        let a = decode(&wav(48_000, 1, &tone(48_000, 12_000.0, 1.0)), 300).unwrap();
        assert_eq!(a.samples.len(), 16_000);
        let mid = &a.samples[1000..15_000];
        let rms = (mid.iter().map(|s| s * s).sum::<f32>() / mid.len() as f32).sqrt();
        assert!(rms < 0.01, "aliasing rms {rms}");
    }

    #[test]
    fn odd_rates_and_stereo() {
        let mut st = Vec::new();
        for s in tone(44_100, 300.0, 1.0) {
            st.push(s);
            st.push(s);
        }
        let a = decode(&wav(44_100, 2, &st), 300).unwrap();
        assert_eq!(a.samples.len(), 16_000);
        let a = decode(&wav(8_000, 1, &tone(8_000, 300.0, 1.0)), 300).unwrap();
        assert_eq!(a.samples.len(), 16_000);
        let a = decode(&wav(16_000, 1, &tone(16_000, 300.0, 1.0)), 300).unwrap();
        assert_eq!(a.samples.len(), 16_000);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            decode(b"", 300),
            Err(TranscribeError::NotAudio { .. })
        ));
        assert!(matches!(
            decode(b"hello world", 300),
            Err(TranscribeError::NotAudio { .. })
        ));
        assert!(matches!(
            decode(b"OggS", 300),
            Err(TranscribeError::Damaged { .. })
        ));
        let w = wav(48_000, 1, &tone(48_000, 440.0, 0.5));
        for cut in [12, 13, 20, 30, 44, 45, 100, w.len() - 1] {
            match decode(&w[..cut], 300) {
                Err(e) => assert!(e.is_input_error(), "{cut}: {e}"),
                Ok(a) => panic!(
                    "{cut}: decoded {} samples from a truncated file",
                    a.samples.len()
                ),
            }
        }
        // Header only, no samples.
        assert!(matches!(
            decode(&wav(48_000, 1, &[]), 300),
            Err(TranscribeError::EmptyAudio)
        ));
        // Longer than the limit.
        assert!(matches!(
            decode(&wav(8_000, 1, &vec![0; 8_000 * 3]), 2),
            Err(TranscribeError::TooLong { .. })
        ));
        // 24-bit PCM.
        let mut w24 = wav(48_000, 1, &[0; 10]);
        w24[34] = 24;
        assert!(matches!(
            decode(&w24, 300),
            Err(TranscribeError::UnsupportedCodec { .. })
        ));
    }

    #[test]
    fn a_note_over_the_limit_is_refused_naming_its_real_length() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/voice/long_status_update.ogg"
        );
        let Ok(note) = std::fs::read(path) else {
            return; // shared/ not beside the repository
        };
        // 57 s (the manifest's duration) against a limit of 10 s.
        match decode(&note, 10) {
            Err(TranscribeError::TooLong { seconds, max_s }) => {
                assert_eq!(max_s, 10);
                assert!((seconds - 57.0).abs() < 1.0, "{seconds}");
                let text = TranscribeError::TooLong { seconds, max_s }.to_string();
                assert!(text.contains("57 s") && text.contains("10 s"), "{text}");
            }
            other => panic!("{:?}", other.map(|a| a.samples.len())),
        }
    }

    #[test]
    fn damaged_voice_notes_are_errors_not_panics() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/voice/run_tests.ogg"
        );
        let Ok(note) = std::fs::read(path) else {
            return; // shared/ not beside the repository: nothing to mutate
        };
        let good = decode(&note, 300).unwrap();
        // 3.05 s at 16 kHz: the last granule position minus the pre-skip, over 3.
        assert_eq!(good.samples.len(), 48_800);
        let mut x: u32 = 99;
        for i in 0..300 {
            let mut v = note.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (x as usize >> 4) % v.len();
            match i % 3 {
                0 => v[at] ^= 0x5a,
                1 => v.truncate(at),
                _ => v[at..]
                    .iter_mut()
                    .take(64)
                    .for_each(|b| *b = (x >> 8) as u8),
            }
            match decode(&v, 300) {
                Ok(a) => assert!(a.samples.len() <= good.samples.len() + 1920),
                Err(e) => assert!(e.is_input_error(), "{e}"),
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic pseudo-random bytes behind each magic.
        let mut x: u32 = 12345;
        for len in [0usize, 1, 5, 27, 28, 64, 300, 5000] {
            for magic in [&b"OggS"[..], b"RIFF\x10\x00\x00\x00WAVE", b""] {
                let mut v = magic.to_vec();
                for _ in 0..len {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    v.push((x >> 16) as u8);
                }
                let _ = decode(&v, 300);
            }
        }
    }
}
