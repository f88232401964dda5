//! A recording written as a session would write it, read back as a player would.

use std::num::NonZeroU16;
use std::path::Path;

use walkie_recording::{
    enforce_total, plan, read_session, Cast, Code, Limits, PlayOptions, Recorder, Start, Step,
};

fn start(cols: u16, rows: u16) -> Start {
    Start {
        cols,
        rows,
        title: Some("api".into()),
        command: Some("claude".into()),
        term: Some("xterm-256color".into()),
    }
}

/// Output like a TUI's: colours, cursor moves, multi-byte text, cut at awkward places.
fn tui_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!(
                "\x1b[{};1H\x1b[3{}mline {i} é € 🦀 ┌─┐\x1b[0m\r\n",
                i % 20 + 1,
                i % 8
            )
            .as_bytes(),
        );
    }
    out
}

fn parser(rows: u16, cols: u16) -> vt100::Parser {
    let nz = |n: u16| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
    vt100::Parser::new(nz(rows), nz(cols), 0)
}

fn screen_after(cols: u16, rows: u16, steps: &[Step]) -> String {
    let mut p = parser(rows, cols);
    for s in steps {
        match s {
            Step::Output { bytes, .. } => p.process(bytes.as_bytes()),
            Step::Resize { cols, rows, .. } => {
                let nz = |n: u16| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
                p.screen_mut().set_size(nz(*rows), nz(*cols))
            }
        }
    }
    p.screen().contents()
}

fn feed_in_odd_chunks(rec: &mut Recorder, bytes: &[u8]) {
    let mut i = 0;
    let mut k = 1;
    while i < bytes.len() {
        let end = (i + k).min(bytes.len());
        rec.output(&bytes[i..end]).expect("output");
        i = end;
        k = k % 97 + 13;
    }
}

#[test]
fn output_concatenates_to_what_the_pty_produced_and_replays_to_the_same_screen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("api");
    let bytes = tui_bytes(300);
    let mut rec = Recorder::create(&dir, start(80, 24), &[], Limits::default()).expect("create");
    feed_in_odd_chunks(&mut rec, &bytes);
    rec.input("run the tests\r", "dispatch by 1001 (telegram)")
        .expect("input");
    rec.exit("code 0").expect("exit");

    let cast = read_session(&dir).expect("read");
    assert_eq!(cast.header.version, 2);
    assert_eq!((cast.header.width, cast.header.height), (80, 24));
    assert_eq!(cast.output().as_bytes(), &bytes[..]);
    let times: Vec<f64> = cast.events.iter().map(|e| e.time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times go forward");
    assert!(cast
        .events
        .iter()
        .any(|e| e.code == Code::Marker && e.data == "dispatch by 1001 (telegram)"));
    assert!(cast
        .events
        .iter()
        .any(|e| e.code == Code::Input && e.data == "run the tests\r"));
    assert_eq!(
        cast.events.last().map(|e| e.data.as_str()),
        Some("exit: code 0")
    );

    let mut direct = parser(24, 80);
    direct.process(&bytes);
    let replayed = screen_after(80, 24, &plan(&cast, PlayOptions::default()));
    assert_eq!(replayed, direct.screen().contents());
}

#[test]
fn secrets_never_reach_the_file_however_they_are_cut() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("s");
    let token = "123456789:AAHk-secret-token_value";
    let secrets = vec![token.to_string()];
    let mut rec =
        Recorder::create(&dir, start(80, 24), &secrets, Limits::default()).expect("create");
    let mut bytes = Vec::new();
    for i in 0..50 {
        bytes.extend_from_slice(format!("echo {i} TELEGRAM_BOT_TOKEN={token}\r\n").as_bytes());
    }
    feed_in_odd_chunks(&mut rec, &bytes);
    rec.input(&format!("export T={token}\r"), "dispatch by 1001")
        .expect("input");
    rec.exit("code 0").expect("exit");
    for (_, part) in walkie_recording::dir::parts(&dir) {
        let text = std::fs::read_to_string(&part).expect("read");
        assert!(!text.contains(token), "the token is in {}", part.display());
        assert!(!text.contains("AAHk-secret"), "part of the token leaked");
    }
    let cast = read_session(&dir).expect("read");
    assert_eq!(cast.output().matches("********").count(), 50);
}

fn dir_bytes(dir: &Path) -> u64 {
    walkie_recording::dir::parts(dir)
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn a_flood_is_capped_and_rotated_and_every_part_replays_on_its_own() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("flood");
    let limits = Limits {
        part_bytes: 64 * 1024,
        session_bytes: 256 * 1024,
    };
    let mut rec = Recorder::create(&dir, start(80, 24), &[], limits).expect("create");
    let mut screen = parser(24, 80);
    let chunk = tui_bytes(40);
    for _ in 0..400 {
        rec.output(&chunk).expect("output");
        screen.process(&chunk);
        if rec.needs_rotation() {
            rec.rotate(screen.screen().contents_formatted().as_bytes())
                .expect("rotate");
        }
    }
    rec.exit("code 0").expect("exit");
    let parts = walkie_recording::dir::parts(&dir);
    assert!(parts.len() >= 3, "rotated into parts: {}", parts.len());
    assert!(parts[0].0 > 1, "the oldest parts were deleted");
    // The cap holds, give or take the part being written when it was checked.
    assert!(
        dir_bytes(&dir) <= limits.session_bytes + limits.part_bytes + 4096,
        "{} bytes on disk",
        dir_bytes(&dir)
    );
    // Each part starts with a repaint, so the stitched remains replay to the final screen.
    let cast = read_session(&dir).expect("read");
    let replayed = screen_after(80, 24, &plan(&cast, PlayOptions::default()));
    assert_eq!(replayed, screen.screen().contents());
    // And a single part is a valid asciicast file by itself.
    let (_, last) = parts.last().expect("a part");
    Cast::parse(&std::fs::read_to_string(last).expect("read")).expect("a valid part");
}

#[test]
fn the_total_cap_deletes_the_oldest_parts_of_any_session_but_never_an_open_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        part_bytes: 8 * 1024,
        session_bytes: 1 << 30,
    };
    let mut recs = Vec::new();
    for name in ["a", "b"] {
        let mut rec =
            Recorder::create(&tmp.path().join(name), start(80, 24), &[], limits).expect("create");
        for _ in 0..20 {
            rec.output(&tui_bytes(20)).expect("output");
            if rec.needs_rotation() {
                rec.rotate(b"").expect("rotate");
            }
        }
        rec.flush().expect("flush");
        recs.push(rec);
    }
    let open: Vec<_> = recs.iter().map(|r| r.current_part()).collect();
    let used = enforce_total(tmp.path(), 32 * 1024, &open).expect("enforce");
    assert!(used <= 32 * 1024 + 2 * 8 * 1024, "{used} bytes left");
    for p in &open {
        assert!(p.exists(), "open part {} kept", p.display());
    }
}

#[test]
fn a_revived_session_continues_its_recording_with_a_marker() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("api");
    {
        let mut rec =
            Recorder::create(&dir, start(80, 24), &[], Limits::default()).expect("create");
        rec.output(b"before the reboot\r\n").expect("output");
        rec.flush().expect("flush");
        // The host dies here: no exit marker.
    }
    let mut rec = Recorder::resume(
        &dir,
        start(100, 30),
        &[],
        Limits::default(),
        "revived after a host restart (claude --resume)",
    )
    .expect("resume");
    rec.output(b"after\r\n").expect("output");
    rec.exit("code 0").expect("exit");
    let cast = read_session(&dir).expect("read");
    assert_eq!(cast.output(), "before the reboot\r\nafter\r\n");
    let marker = cast
        .events
        .iter()
        .position(|e| e.data.starts_with("revived"))
        .expect("marker");
    let resize = cast
        .events
        .iter()
        .position(|e| e.size() == Some((100, 30)))
        .expect("resize");
    assert!(marker < resize);
    let times: Vec<f64> = cast.events.iter().map(|e| e.time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times go forward");
    assert_eq!(walkie_recording::dir::parts(&dir).len(), 1);
}

#[test]
fn a_full_disk_stops_the_recording_with_one_error_and_no_panic() {
    // /dev/full fails every write with ENOSPC, as a full disk does.
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full on this machine");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("x");
    let mut rec = Recorder::create(&dir, start(80, 24), &[], Limits::default()).expect("create");
    // The next part's file is /dev/full.
    std::os::unix::fs::symlink(full, dir.join("000002.cast")).expect("symlink");
    rec.rotate(b"").ok();
    assert_eq!(rec.current_part(), dir.join("000002.cast"));
    let big = vec![b'x'; 200 * 1024];
    let first = rec.output(&big).and_then(|_| rec.flush());
    assert!(
        matches!(first, Err(walkie_recording::RecordError::Io { .. })),
        "writing to a full disk fails: {first:?}"
    );
    assert!(
        matches!(
            rec.output(b"more"),
            Err(walkie_recording::RecordError::Stopped)
        ),
        "and the recorder stays stopped"
    );
}
