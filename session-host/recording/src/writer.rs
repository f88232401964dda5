//! Writing one session's recording: asciicast v2 parts in the session's folder, rotated by
//! size, the oldest parts deleted past the session's cap, secrets masked.
//!
//! The recorder is written from the host's recorder thread (blocking file I/O is fine
//! there, never on the async runtime), which may be behind the session: it stamps each event
//! with the time the session produced it ([`Recorder::set_time`]). A write error (disk full)
//! is returned once and the recorder then stops recording: a recording must never stall the
//! session it records.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cast::{Cast, Code, Event, Header};
use crate::dir::{part_path, parts};
use crate::redact::Redactor;

/// The write buffer of a part while events come: one `write` per MiB of a flood (one per
/// 64 KiB batch cost a syscall and a page-cache walk each; the buffer is given back when the
/// session goes idle, so only a session printing now holds it).
const WRITE_BUF: usize = 1 << 20;

/// A part's file with a write buffer that exists only while there is something to write:
/// written out when the session goes idle ([`Recorder::sync`]), it is given back, so an idle
/// session's recorder holds none (a `BufWriter` kept 64 KiB each, of which 100 idle sessions
/// held about 1.6 MiB resident).
struct PartFile {
    file: File,
    buf: Vec<u8>,
}

impl PartFile {
    fn new(file: File) -> PartFile {
        PartFile {
            file,
            buf: Vec::new(),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.append(bytes.len(), |buf| buf.extend_from_slice(bytes))
    }

    /// Lets `fill` append about `hint` bytes straight into the buffer (an output event is
    /// escaped in place, not built apart and copied), then writes the buffer out once it
    /// holds [`WRITE_BUF`]. Returns the bytes appended.
    fn append(&mut self, hint: usize, fill: impl FnOnce(&mut Vec<u8>)) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(WRITE_BUF.max(hint));
        } else if self.buf.len() + hint > self.buf.capacity() {
            // Written out first rather than grown: a full buffer doubled is a copy of a MiB
            // and a 2 MiB block held for the rest of the flood.
            self.write_out()?;
        }
        let before = self.buf.len();
        fill(&mut self.buf);
        let added = self.buf.len() - before;
        if self.buf.len() >= WRITE_BUF {
            self.write_out()?;
        }
        Ok(added)
    }

    /// Writes the buffer to the file; it is dropped even on an error (the recorder then stops).
    fn write_out(&mut self) -> io::Result<()> {
        let r = match self.buf.is_empty() {
            true => Ok(()),
            false => self.file.write_all(&self.buf),
        };
        self.buf.clear();
        r
    }

    /// Writes the buffer out and gives its memory back.
    fn release(&mut self) -> io::Result<()> {
        let r = self.write_out();
        self.buf = Vec::new();
        r
    }
}

impl Drop for PartFile {
    /// What is still buffered goes to the file, as `BufWriter` did (errors are ignored: the
    /// recorder reports them on its own writes).
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

/// How big recordings may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A part is closed and a new one started past this many bytes.
    pub part_bytes: u64,
    /// The session's parts together; the oldest go first.
    pub session_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            part_bytes: 16 << 20,
            session_bytes: 64 << 20,
        }
    }
}

/// What the header of each part says.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub cols: u16,
    pub rows: u16,
    /// Usually the session name.
    pub title: Option<String>,
    /// The launch command as shown by `ls` (never with secrets: the caller's job).
    pub command: Option<String>,
    pub term: Option<String>,
}

/// Recording errors.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot write the recording {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the recording stopped after an earlier write error")]
    Stopped,
}

/// One session's recorder.
pub struct Recorder {
    dir: PathBuf,
    start: Start,
    limits: Limits,
    redactor: Redactor,
    part: u32,
    file: PartFile,
    part_bytes: u64,
    /// Time zero of the current part.
    clock: Instant,
    /// Seconds added to every time in the current part (a part continued after a revival).
    offset: f64,
    /// The time of the next events, when the caller says it ([`Recorder::set_time`]).
    pinned: Option<Instant>,
    /// The time of the last event written in this part: times never go back.
    last_time: f64,
    /// An incomplete UTF-8 sequence at the end of the last output chunk.
    utf8_tail: Vec<u8>,
    scratch: Vec<u8>,
    stopped: bool,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn open_part(path: &Path, append: bool) -> Result<File, RecordError> {
    OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))
}

impl Recorder {
    fn with_file(
        dir: &Path,
        start: Start,
        secrets: &[String],
        limits: Limits,
        part: u32,
        file: File,
    ) -> Recorder {
        Recorder {
            dir: dir.to_path_buf(),
            start,
            limits,
            redactor: Redactor::new(secrets),
            part,
            file: PartFile::new(file),
            part_bytes: 0,
            clock: Instant::now(),
            offset: 0.0,
            pinned: None,
            last_time: 0.0,
            utf8_tail: Vec::new(),
            scratch: Vec::new(),
            stopped: false,
        }
    }

    /// Starts a new recording in `dir` (the session's folder, made 0700), after any parts
    /// already there.
    pub fn create(
        dir: &Path,
        start: Start,
        secrets: &[String],
        limits: Limits,
    ) -> Result<Recorder, RecordError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir))?;
        let part = parts(dir).last().map_or(1, |(n, _)| n + 1);
        let path = part_path(dir, part);
        let file = open_part(&path, false)?;
        let mut rec = Recorder::with_file(dir, start, secrets, limits, part, file);
        rec.write_header()?;
        Ok(rec)
    }

    /// Continues the last part in `dir` (a revived session): times go on from its last
    /// event, and a marker says why. Starts a new recording when there is none.
    pub fn resume(
        dir: &Path,
        start: Start,
        secrets: &[String],
        limits: Limits,
        why: &str,
    ) -> Result<Recorder, RecordError> {
        let Some((part, path)) = parts(dir).pop() else {
            let mut rec = Recorder::create(dir, start, secrets, limits)?;
            rec.marker(why)?;
            return Ok(rec);
        };
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        let (offset, cut) = match Cast::parse(&text) {
            Ok(c) => (c.duration(), !text.ends_with('\n')),
            // Unreadable: leave it as it is and start a new part.
            Err(_) => {
                let mut rec = Recorder::create(dir, start, secrets, limits)?;
                rec.marker(why)?;
                return Ok(rec);
            }
        };
        let file = open_part(&path, true)?;
        let mut rec = Recorder::with_file(dir, start, secrets, limits, part, file);
        rec.part_bytes = text.len() as u64;
        rec.offset = offset;
        rec.last_time = offset;
        if cut {
            // The host died mid-line: end that line so the next event stands on its own.
            rec.write_raw(b"\n")?;
        }
        rec.marker(why)?;
        if (rec.start.cols, rec.start.rows) != (0, 0) {
            rec.resize(rec.start.cols, rec.start.rows)?;
        }
        Ok(rec)
    }

    /// The folder of this session's parts.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file being written now.
    pub fn current_part(&self) -> PathBuf {
        part_path(&self.dir, self.part)
    }

    /// Seconds since the start of the current part, as written in events; the audit log
    /// keeps it beside a dispatch so "what happened after I approved" can be found.
    pub fn now(&self) -> f64 {
        let since = match self.pinned {
            Some(at) => at.saturating_duration_since(self.clock),
            None => self.clock.elapsed(),
        };
        self.offset + since.as_secs_f64()
    }

    /// Stamps the next events with `at` (when the session produced them) instead of the
    /// time they are written: a writer behind the session keeps the session's timing.
    /// Times never go back: an instant before the part's start counts as its start.
    pub fn set_time(&mut self, at: Instant) {
        self.pinned = Some(at);
    }

    /// The time of an event written now: [`Recorder::now`], never before the last event.
    fn stamp(&mut self) -> f64 {
        self.last_time = self.now().max(self.last_time);
        self.last_time
    }

    fn write_header(&mut self) -> Result<(), RecordError> {
        let mut h = Header::new(self.start.cols.max(1), self.start.rows.max(1));
        h.timestamp = Some(unix_now());
        h.title = self.start.title.clone();
        h.command = self.start.command.clone();
        if let Some(t) = &self.start.term {
            h.env.insert("TERM".into(), t.clone());
        }
        let mut line = serde_json::to_vec(&h).map_err(|e| RecordError::Io {
            path: self.current_part(),
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        self.write_raw(&line)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        if self.stopped {
            return Err(RecordError::Stopped);
        }
        let written = self.file.write_all(bytes);
        self.count(written)
    }

    /// Counts what a write to the part appended; a failed one stops the recorder.
    fn count(&mut self, written: io::Result<usize>) -> Result<(), RecordError> {
        match written {
            Ok(n) => {
                self.part_bytes += n as u64;
                Ok(())
            }
            Err(source) => {
                self.stopped = true;
                Err(RecordError::Io {
                    path: self.current_part(),
                    source,
                })
            }
        }
    }

    fn event(&mut self, code: Code, data: String) -> Result<(), RecordError> {
        let e = Event {
            time: self.stamp(),
            code,
            data,
        };
        let mut line = e.to_line().into_bytes();
        line.push(b'\n');
        self.write_raw(&line)
    }

    /// Terminal output, as the PTY produced it.
    pub fn output(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        if self.utf8_tail.is_empty() && self.redactor.passes(bytes) {
            // Nothing to mask and nothing held back: escape straight from the caller's bytes
            // (a flood's hot path; the copy through the redactor costs as much as the escape).
            return self.output_text(bytes);
        }
        let mut masked = std::mem::take(&mut self.scratch);
        masked.clear();
        masked.append(&mut self.utf8_tail);
        self.redactor.push(bytes, &mut masked);
        let r = self.output_text(&masked);
        self.scratch = masked;
        r
    }

    /// Writes the UTF-8 prefix of `bytes`, keeping an incomplete last sequence for later.
    fn output_text(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        let keep = incomplete_tail(bytes);
        let (bytes, tail) = bytes.split_at(bytes.len() - keep);
        if bytes.is_empty() {
            self.utf8_tail.extend_from_slice(tail);
            return Ok(());
        }
        if self.stopped {
            return Err(RecordError::Stopped);
        }
        // The hot path of a flood: escaped straight into the part's buffer.
        let t = self.stamp();
        let hint = bytes.len() + bytes.len() / 16 + 32;
        let written = self.file.append(hint, |line| {
            line.reserve(hint);
            line.push(b'[');
            push_time(line, t);
            line.extend_from_slice(b", \"o\", \"");
            escape_lossy(bytes, line);
            line.extend_from_slice(b"\"]\n");
        });
        self.utf8_tail.extend_from_slice(tail);
        self.count(written)
    }

    /// Input walkie typed into the session, after a marker saying who sent it
    /// (e.g. "dispatch by 1001 (telegram)"). Secrets are masked in both.
    pub fn input(&mut self, text: &str, who: &str) -> Result<(), RecordError> {
        let who = self.redactor.mask_str(who);
        self.event(Code::Marker, who)?;
        let text = self.redactor.mask_str(text);
        self.event(Code::Input, text)
    }

    pub fn resize(&mut self, cols: u16, rows: u16) -> Result<(), RecordError> {
        self.start.cols = cols;
        self.start.rows = rows;
        self.event(Code::Resize, format!("{cols}x{rows}"))
    }

    /// A labelled point in time (exit, revival, approvals).
    pub fn marker(&mut self, label: &str) -> Result<(), RecordError> {
        let label = self.redactor.mask_str(label);
        self.event(Code::Marker, label)
    }

    /// Writes out everything held back and buffered (the session ended or went idle).
    pub fn flush(&mut self) -> Result<(), RecordError> {
        let mut rest = Vec::new();
        self.redactor.flush(&mut rest);
        let mut held = std::mem::take(&mut self.utf8_tail);
        held.extend_from_slice(&rest);
        if !held.is_empty() {
            let text = String::from_utf8_lossy(&held).into_owned();
            self.event(Code::Output, text)?;
        }
        self.sync()
    }

    /// Writes the file buffer out, but nothing the redactor or the UTF-8 decoder holds back
    /// (a secret split across two reads must stay masked): for an idle session, so the
    /// file on disk is current.
    pub fn sync(&mut self) -> Result<(), RecordError> {
        if self.stopped {
            return Err(RecordError::Stopped);
        }
        if let Err(source) = self.file.release() {
            self.stopped = true;
            return Err(RecordError::Io {
                path: self.current_part(),
                source,
            });
        }
        Ok(())
    }

    /// The session ended: a marker, then everything out.
    pub fn exit(&mut self, how: &str) -> Result<(), RecordError> {
        self.flush()?;
        self.marker(&format!("exit: {how}"))?;
        self.flush()
    }

    /// Whether the current part is full; the owner then calls [`Recorder::rotate`] with a
    /// repaint of the current screen, so that every part replays to the right screen.
    pub fn needs_rotation(&self) -> bool {
        self.part_bytes >= self.limits.part_bytes
    }

    /// Closes the current part and starts the next with `repaint` as its first output;
    /// then deletes the session's oldest parts past its cap.
    pub fn rotate(&mut self, repaint: &[u8]) -> Result<(), RecordError> {
        self.flush()?;
        let next = part_path(&self.dir, self.part + 1);
        let file = open_part(&next, false)?;
        self.file = PartFile::new(file);
        self.part += 1;
        self.part_bytes = 0;
        self.last_time = 0.0;
        self.clock = self.pinned.unwrap_or_else(Instant::now);
        self.offset = 0.0;
        self.write_header()?;
        if !repaint.is_empty() {
            let mut masked = Vec::new();
            self.redactor.push(repaint, &mut masked);
            self.redactor.flush(&mut masked);
            let text = String::from_utf8_lossy(&masked).into_owned();
            self.event(Code::Output, text)?;
        }
        self.enforce_session_cap();
        Ok(())
    }

    fn enforce_session_cap(&self) {
        let mut list = parts(&self.dir);
        let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
        let mut total: u64 = list.iter().map(|(_, p)| size(p)).sum();
        while total > self.limits.session_bytes && list.len() > 1 {
            let (_, oldest) = list.remove(0);
            let s = size(&oldest);
            match fs::remove_file(&oldest) {
                Ok(()) => total = total.saturating_sub(s),
                Err(e) => {
                    tracing::warn!(path = %oldest.display(), error = %e, "cannot delete an old recording part");
                    return;
                }
            }
        }
    }
}

/// Appends `bytes` as the inside of a JSON string, each invalid UTF-8 sequence as U+FFFD
/// (what `String::from_utf8_lossy` makes), without copying the text first: each valid run
/// is checked by `from_utf8` (its word-at-a-time ASCII path) and escaped straight from
/// `bytes`.
fn escape_lossy(mut bytes: &[u8], out: &mut Vec<u8>) {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => return crate::cast::escape_into(text, out),
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // from_utf8 found the prefix valid: not checked twice.
                crate::cast::escape_utf8(valid, out);
                out.extend_from_slice("\u{fffd}".as_bytes());
                // No length: the text ends in the middle of a sequence, one replacement.
                bytes = rest
                    .get(e.error_len().unwrap_or(rest.len())..)
                    .unwrap_or_default();
            }
        }
    }
}

/// Appends `t` seconds with microsecond precision, as [`Event::to_line`] does.
fn push_time(out: &mut Vec<u8>, t: f64) {
    let micros = (t * 1e6).round().max(0.0) as u64;
    let _ = write!(out, "{}.{:06}", micros / 1_000_000, micros % 1_000_000);
}

/// Bytes at the end of `b` that start a UTF-8 sequence not yet complete.
fn incomplete_tail(b: &[u8]) -> usize {
    // A sequence is at most 4 bytes: look at the last 3 for its lead byte.
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0xC0 == 0x80 {
            continue; // continuation byte: keep looking for the lead
        }
        let need = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_utf8_tails_are_found() {
        assert_eq!(incomplete_tail(b"abc"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"🦀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_tail(b"a\xff"), 0);
    }

    /// A flood of 64 KiB events never grows the part's buffer past its MiB, and the file
    /// gets every byte in order.
    #[test]
    fn a_flood_is_written_out_before_the_buffer_would_grow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("part");
        let mut part = PartFile::new(File::create(&path).expect("create"));
        let mut want = Vec::new();
        for i in 0..40u8 {
            let batch = vec![b'a' + i % 26; 64 * 1024 + usize::from(i) * 37];
            part.write_all(&batch).expect("append");
            want.extend_from_slice(&batch);
            assert_eq!(part.buf.capacity(), WRITE_BUF, "after batch {i}");
        }
        part.release().expect("release");
        assert_eq!(part.buf.capacity(), 0);
        assert_eq!(std::fs::read(&path).expect("read"), want);
    }

    /// Bytes like a terminal's: text, escapes, multi-byte characters, cut and invalid ones.
    fn termy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            6 => "[a-z ]{1,40}".prop_map(String::into_bytes),
            2 => prop::sample::select(vec![
                "\r\n", "\x1b[32m", "\"", "\\", "é", "€", "🦀", "\u{7f}", "\t",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::sample::select(vec![
                &b"\xff"[..], b"\xc3", b"\xe2\x82", b"\xf0\x9f\xa6", b"\x80", b"\xed\xa0\x80",
            ])
            .prop_map(<[u8]>::to_vec),
            1 => proptest::collection::vec(any::<u8>(), 1..8),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #[test]
        fn the_lossy_escape_matches_from_utf8_lossy_and_serde_json(bytes in termy()) {
            let mut out = Vec::new();
            escape_lossy(&bytes, &mut out);
            let lossy = String::from_utf8_lossy(&bytes);
            proptest::prop_assert_eq!(out, crate::cast::serde_inside(&lossy));
        }
    }
}
