//! How fast the recorder takes output: `cargo run --release -p walkie-recording --example
//! throughput [MB] [BATCH_KIB]`. For two texts (the host benchmark's `cat` of plain lines, as
//! the PTY gives them with `\r\n`, and lines with colour escapes) it prints the time of a
//! reference, the same bytes written raw to a file in the same batches, then the recorder
//! with no secret and with one, as ns per byte and as a ratio to the reference, so that the
//! figure means the same on a loaded machine. Times are this thread's CPU time (from
//! `/proc/thread-self/schedstat`), which the disk's writeback and other programs do not
//! inflate; run it with `TMPDIR=/dev/shm` to leave the disk out altogether.

use std::fs::File;
use std::io::Write;
use walkie_recording::{Limits, Recorder, Start};

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds of `f`.
fn cpu(f: impl FnOnce()) -> f64 {
    let t = cpu_ns();
    f();
    (cpu_ns() - t) as f64 / 1e9
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(210);
    let batch_kib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let plain = {
        // host_bench.py's line, with the PTY's `\n` to `\r\n`.
        let mut l = ("the quick brown fox jumps over the lazy dog 0123456789 ".repeat(2))
            .as_bytes()[..99]
            .to_vec();
        l.extend_from_slice(b"\r\n");
        l
    };
    let coloured = b"the quick brown fox jumps over the lazy dog 0123456789 \x1b[32mok\x1b[0m\r\n";
    for (name, line) in [("cat text", plain.as_slice()), ("coloured", coloured)] {
        let chunk: Vec<u8> = line.iter().copied().cycle().take(batch_kib << 10).collect();
        let chunks = (mb << 20) / chunk.len();
        let bytes = (chunks * chunk.len()) as f64;
        let tmp = tempfile::tempdir().expect("tempdir");
        let raw = {
            let mut f = File::create(tmp.path().join("raw")).expect("create");
            let s = cpu(|| {
                for _ in 0..chunks {
                    f.write_all(&chunk).expect("write");
                }
            });
            drop(f);
            let _ = std::fs::remove_file(tmp.path().join("raw"));
            s
        };
        println!(
            "{name}, {mb} MB in {batch_kib} KiB batches: raw write {raw:.3} s ({:.2} ns/byte)",
            raw * 1e9 / bytes
        );
        for secrets in [
            vec![],
            vec!["123456789:AAHk-secret-token_value".to_string()],
        ] {
            let limits = Limits {
                part_bytes: 1 << 40,
                session_bytes: 1 << 41,
            };
            let start = Start {
                cols: 80,
                rows: 24,
                ..Start::default()
            };
            let dir = tmp.path().join(format!("s{}", secrets.len()));
            let mut rec = Recorder::create(&dir, start, &secrets, limits).expect("create");
            let s = cpu(|| {
                for _ in 0..chunks {
                    rec.output(&chunk).expect("output");
                }
                rec.flush().expect("flush");
            });
            drop(rec);
            let _ = std::fs::remove_dir_all(&dir);
            println!(
                "  recorder, {} secret(s): {s:.3} s ({:.2} ns/byte, {:.0} MB/s) = {:.2}x the raw write",
                secrets.len(),
                s * 1e9 / bytes,
                bytes / 1e6 / s,
                s / raw
            );
        }
    }
}
