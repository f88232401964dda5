//! Warm in-process benchmark: loads the model once, then transcribes each file `--runs`
//! times and prints one tab-separated line per file with the minimum wall time of
//! decode + transcribe. Used by `transcription/benches/compare.sh`.
//!
//! ```text
//! cargo run --release -p walkie-transcription --example warm_bench -- \
//!     --model ../shared/models/ggml-tiny.en.bin --threads 1 --runs 3 FILE...
//! ```
//! `--full-window` disables the short encoder window (for comparison); `--beam-size N`
//! changes the decoder (1 = greedy); `--names a,b` gives session names matched after
//! transcription, `--prompt-names` also puts them in whisper's prompt (the full window).

use std::path::PathBuf;
use std::time::Instant;

use walkie_transcription::{Options, Settings, Transcriber};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut model = None;
    let mut threads = 1usize;
    let mut runs = 3usize;
    let mut full_window = false;
    let mut beam_size = walkie_transcription::DEFAULT_BEAM_SIZE;
    let mut audio_ctx = None;
    let mut vocabulary = Vec::new();
    let mut prompt = None;
    let mut names = Vec::new();
    let mut prompt_names = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--full-window" => full_window = true,
            "--beam-size" => {
                beam_size = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(beam_size)
            }
            "--audio-ctx" => audio_ctx = args.next().and_then(|v| v.parse().ok()),
            "--vocab" => {
                vocabulary = args
                    .next()
                    .map(|v| v.split(',').map(str::to_string).collect())
                    .unwrap_or_default()
            }
            "--prompt" => prompt = args.next(),
            "--names" => {
                names = args
                    .next()
                    .map(|v| v.split(',').map(str::to_string).collect())
                    .unwrap_or_default()
            }
            "--prompt-names" => prompt_names = true,
            f => files.push(PathBuf::from(f)),
        }
    }
    let model = model.expect("--model PATH is required");
    let t = Instant::now();
    let tr = Transcriber::load(
        &model,
        Settings {
            threads,
            max_duration_s: 600,
            beam_size,
        },
    )
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    eprintln!(
        "model load (with verification): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let opts = Options {
        full_window,
        audio_ctx,
        vocabulary,
        prompt,
        names,
        prompt_names,
        ..Options::default()
    };
    println!(
        "file\taudio_s\tbest_wall_s\tdecode_ms\ttranscribe_ms\taudio_ctx\tfallback\tsession\ttext"
    );
    for f in &files {
        let mut best = f64::INFINITY;
        let mut last = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            match tr.transcribe_file(f, &opts) {
                Ok(r) => {
                    best = best.min(t.elapsed().as_secs_f64());
                    last = Some(r);
                }
                Err(e) => {
                    eprintln!("{}: {e}", f.display());
                    break;
                }
            }
        }
        if let Some(r) = last {
            println!(
                "{}\t{:.2}\t{:.3}\t{:.1}\t{:.1}\t{}\t{}\t{}\t{}",
                f.display(),
                r.audio_duration_s,
                best,
                r.decode_ms,
                r.transcribe_ms,
                r.audio_ctx,
                r.fallback,
                r.session.as_deref().unwrap_or("-"),
                r.heard
            );
        }
    }
}
