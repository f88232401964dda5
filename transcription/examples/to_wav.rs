//! Decodes one or more audio files (Ogg/Opus or WAV) with walkie's decoder and writes them,
//! concatenated, as one 16 kHz mono 16-bit WAV: the input whisper.cpp's own CLI needs in
//! `transcription/benches/compare.sh`.
//!
//! ```text
//! cargo run --release -p walkie-transcription --example to_wav -- OUT.wav IN...
//! ```

use walkie_transcription::audio;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: to_wav OUT.wav IN...");
        std::process::exit(2);
    }
    let mut samples = Vec::new();
    for input in &args[1..] {
        match audio::decode_file(input.as_ref(), 600) {
            Ok(a) => samples.extend_from_slice(&a.samples),
            Err(e) => {
                eprintln!("{input}: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Err(e) = std::fs::write(&args[0], audio::wav_bytes(audio::SAMPLE_RATE, 1, &samples)) {
        eprintln!("{}: {e}", args[0]);
        std::process::exit(1);
    }
}
