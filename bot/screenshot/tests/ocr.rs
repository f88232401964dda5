//! Text recognition reads a rendered plain screen back: the picture is legible, not just
//! equal to a golden file. Needs `tesseract` (Debian `tesseract-ocr`, installed by .ci/deps);
//! without it the test says so and passes.

use std::io::ErrorKind;
use std::num::NonZeroU16;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use walkie_screenshot::{RenderOptions, Renderer, PHONE_FONT_PX};
use walkie_session_host::from_vt100;

const TEXT: &[&str] = &[
    "$ cargo test --workspace",
    "   Compiling walkie v0.1.0 (/home/dev/walkie/bot)",
    "    Finished test profile [unoptimized + debuginfo] target(s) in 42.17s",
    "     Running unittests src/lib.rs (target/debug/deps/walkie_bot-3f9a2c)",
    "",
    "running 12 tests",
    "test approval detect: the Claude prompt is found ... ok",
    "test approval model: cards show the command ... ok",
    "test pacing: edits wait for the shared budget ... ok",
    "",
    "The quick brown fox jumps over the lazy dog while the session host",
    "keeps every terminal alive, and the bot sends a picture of the screen",
    "to the phone: colours, bold text and box drawing stay readable.",
    "",
    "test result: ok. 12 passed; 0 failed; 0 ignored; finished in 0.35s",
];

/// Edit distance between two strings, in chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Lines with their runs of spaces collapsed: OCR does not count columns. (The text has
/// few underscores and no `::`: tesseract reads a lone `_` as a space and `::` as `: :`
/// in any monospace picture, which would measure tesseract rather than the picture.)
fn normalise(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tesseract_reads_a_plain_screen_back() {
    let nz = |n: u16| NonZeroU16::new(n).expect("non-zero");
    let mut vt = vt100::Parser::new(nz(20), nz(80), 0);
    vt.process(TEXT.join("\r\n").as_bytes());
    vt.process(b"\x1b[?25l");
    let snap = from_vt100(vt.screen());
    let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
    let png = r
        .render_png(&snap, &RenderOptions::default())
        .expect("renders");
    // Kept after the test, to look at when the reading goes wrong.
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ocr-screen.png");
    std::fs::write(&path, png).expect("write picture");

    let child = Command::new("tesseract")
        .arg(&path)
        .args(["stdout", "--psm", "6", "-l", "eng"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: tesseract is not installed (Debian package tesseract-ocr, see .ci/deps)"
            );
            return;
        }
        Err(e) => panic!("tesseract: {e}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait tesseract").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tesseract took over two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("tesseract output");
    assert!(out.status.success(), "tesseract failed: {:?}", out.status);
    let read = normalise(&String::from_utf8_lossy(&out.stdout));
    let want = normalise(&TEXT.join("\n"));
    let errors = distance(&read, &want);
    let rate = errors as f64 / want.chars().count() as f64;
    assert!(
        rate <= 0.02,
        "{errors} character errors in {} ({:.2} %); tesseract read:\n{read}",
        want.chars().count(),
        rate * 100.0
    );
    eprintln!(
        "OCR character error rate {:.2} % ({errors} errors):\n{read}",
        rate * 100.0
    );
}

#[test]
fn distance_counts_edits() {
    assert_eq!(distance("kitten", "sitting"), 3);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("same", "same"), 0);
    assert_eq!(normalise("  a   b \n\n c "), "a b\nc");
}
