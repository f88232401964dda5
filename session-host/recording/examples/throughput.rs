//! How fast the recorder takes output: `cargo run --release -p walkie-recording --example
//! throughput [MB]`. Prints MB/s for plain text with and without a secret to mask.

use std::time::Instant;

use walkie_recording::{Limits, Recorder, Start};

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60);
    let line = b"the quick brown fox jumps over the lazy dog 0123456789 \x1b[32mok\x1b[0m\r\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
    let chunks = mb * 1024 * 1024 / chunk.len();
    for secrets in [
        vec![],
        vec!["123456789:AAHk-secret-token_value".to_string()],
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let limits = Limits {
            part_bytes: 1 << 40,
            session_bytes: 1 << 41,
        };
        let start = Start {
            cols: 80,
            rows: 24,
            ..Start::default()
        };
        let mut rec =
            Recorder::create(&tmp.path().join("s"), start, &secrets, limits).expect("create");
        let t = Instant::now();
        for _ in 0..chunks {
            rec.output(&chunk).expect("output");
        }
        rec.flush().expect("flush");
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} secret(s): {mb} MB in {:.3} s = {:.0} MB/s",
            secrets.len(),
            s,
            mb as f64 / s
        );
    }
}
