//! The asciicast v2 format (asciinema's): one JSON header line, then one JSON array per
//! event, `[seconds, code, data]`. walkie writes output (`o`), input it typed (`i`),
//! resizes (`r`, `"COLSxROWS"`) and markers (`m`: who typed, exit, revival), so
//! `asciinema play` and the asciinema player read its files as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    pub width: u16,
    pub height: u16,
    /// Unix seconds when this file (part) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Only `TERM` and `SHELL`, as asciinema records: never the session's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl Header {
    pub fn new(width: u16, height: u16) -> Self {
        Header {
            version: 2,
            width,
            height,
            timestamp: None,
            title: None,
            command: None,
            env: BTreeMap::new(),
        }
    }
}

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Output,
    Input,
    Resize,
    Marker,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Output => "o",
            Code::Input => "i",
            Code::Resize => "r",
            Code::Marker => "m",
        }
    }

    fn parse(s: &str) -> Option<Code> {
        match s {
            "o" => Some(Code::Output),
            "i" => Some(Code::Input),
            "r" => Some(Code::Resize),
            "m" => Some(Code::Marker),
            _ => None,
        }
    }
}

/// One event line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the start of its file.
    pub time: f64,
    pub code: Code,
    pub data: String,
}

impl Event {
    /// The event as one line (without the newline).
    pub fn to_line(&self) -> String {
        // Microseconds are what asciinema writes; more digits only grow the file.
        let t = (self.time * 1e6).round() / 1e6;
        serde_json::to_string(&(t, self.code.as_str(), &self.data))
            .unwrap_or_else(|_| String::from("[0,\"m\",\"unencodable event\"]"))
    }

    /// `(cols, rows)` of a resize event.
    pub fn size(&self) -> Option<(u16, u16)> {
        if self.code != Code::Resize {
            return None;
        }
        let (c, r) = self.data.split_once('x')?;
        Some((c.parse().ok()?, r.parse().ok()?))
    }
}

/// A line that is not asciicast v2.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("the file is empty (no asciicast header)")]
    Empty,
    #[error("asciicast version {0}; walkie reads version 2")]
    Version(u32),
}

/// A whole file: header and events.
#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub header: Header,
    pub events: Vec<Event>,
}

impl Cast {
    /// Parses a file's text. A last line cut short (the host died mid-write) is skipped,
    /// every other bad line is an error.
    pub fn parse(text: &str) -> Result<Cast, ParseError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or(ParseError::Empty)?;
        let header: Header = serde_json::from_str(first).map_err(|e| ParseError::Line {
            line: 1,
            why: format!("bad header: {e}"),
        })?;
        if header.version != 2 {
            return Err(ParseError::Version(header.version));
        }
        let lines: Vec<(usize, &str)> = lines.collect();
        let last = lines.len().saturating_sub(1);
        let mut events = Vec::with_capacity(lines.len());
        for (k, (n, line)) in lines.into_iter().enumerate() {
            match parse_event(line) {
                Ok(e) => events.push(e),
                Err(_) if k == last && !text.ends_with('\n') => {}
                Err(why) => return Err(ParseError::Line { line: n + 1, why }),
            }
        }
        Ok(Cast { header, events })
    }

    /// The concatenated output.
    pub fn output(&self) -> String {
        self.events
            .iter()
            .filter(|e| e.code == Code::Output)
            .map(|e| e.data.as_str())
            .collect()
    }

    /// Seconds of the last event.
    pub fn duration(&self) -> f64 {
        self.events.last().map_or(0.0, |e| e.time)
    }
}

/// Appends `s` as the inside of a JSON string (no quotes), the same escapes serde_json
/// makes. The hot path of a flood: the bytes between escapes are found eight at a time
/// ([`next_escape`]) and copied as one run.
pub(crate) fn escape_into(s: &str, out: &mut Vec<u8>) {
    escape_utf8(s.as_bytes(), out);
}

/// [`escape_into`] for bytes the caller has found to be valid UTF-8 (bytes from 0x80 up are
/// copied as they are, so invalid input would make invalid JSON).
pub(crate) fn escape_utf8(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    let mut start = 0;
    while let Some(i) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => b"",
        };
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether JSON needs `b` escaped: a control byte, `"` or `\\` (serde_json leaves DEL and
/// everything from 0x80 up as it is; the text is valid UTF-8 already).
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The offset of the first byte from `from` on that needs an escape.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let mask = escape_mask(u64::from_le_bytes(w));
        if mask != 0 {
            // The lowest flagged byte is exact (see escape_mask).
            return Some(i + (mask.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    rest.iter().position(|&b| needs_escape(b)).map(|k| i + k)
}

/// The high bit of each byte of `w` (little-endian) that may need an escape. The lowest set
/// bit is always a byte that does: the subtractions borrow only out of a byte that matched,
/// so bytes above the first match may be flagged wrongly, never bytes below it.
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    (below_space | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) & HIGH
}

/// serde_json's string escape without the quotes: the reference the fast escapes are
/// tested against.
#[cfg(test)]
pub(crate) fn serde_inside(s: &str) -> Vec<u8> {
    let quoted = serde_json::to_vec(s).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec()
}

fn parse_event(line: &str) -> Result<Event, String> {
    let (time, code, data): (f64, String, String) =
        serde_json::from_str(line).map_err(|e| format!("bad event: {e}"))?;
    if !time.is_finite() || time < 0.0 {
        return Err(format!("bad event time {time}"));
    }
    let code = Code::parse(&code).ok_or_else(|| format!("unknown event code {code:?}"))?;
    Ok(Event { time, code, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips() {
        for code in [Code::Output, Code::Input, Code::Resize, Code::Marker] {
            let e = Event {
                time: 1.234567,
                code,
                data: "a\u{1b}[1m\"b\"\n".into(),
            };
            assert_eq!(parse_event(&e.to_line()).expect("parses"), e);
        }
    }

    #[test]
    fn the_fast_escape_matches_serde_json() {
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        for s in [
            all.as_str(),
            "plain",
            "\u{1b}[1m\"q\" \\ \r\n\t\u{7f}🦀",
            "",
        ] {
            let mut out = Vec::new();
            escape_into(s, &mut out);
            let ours = String::from_utf8(out).expect("utf8");
            let theirs = serde_json::to_string(s).expect("json");
            assert_eq!(format!("\"{ours}\""), theirs);
        }
    }

    /// Text that is mostly plain with escapes, quotes, backslashes and multi-byte
    /// characters among it, in runs long enough for the eight-byte scan.
    fn texty() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let ch = prop_oneof![
            8 => proptest::char::range('a', 'z'),
            2 => proptest::char::range('\0', '\u{7f}'),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\r', '\u{1b}', 'é', '€', '🦀', '\u{7f}']),
            1 => any::<char>(),
        ];
        proptest::collection::vec(ch, 0..200).prop_map(|v| v.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn the_fast_escape_matches_serde_json_on_random_text(s in texty()) {
            let mut out = Vec::new();
            escape_into(&s, &mut out);
            proptest::prop_assert_eq!(out, serde_inside(&s));
        }

        #[test]
        fn the_word_scan_finds_the_first_byte_to_escape(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            from in 0usize..70,
        ) {
            let want = bytes
                .get(from..)
                .and_then(|r| r.iter().position(|&b| needs_escape(b)))
                .map(|k| from + k);
            proptest::prop_assert_eq!(next_escape(&bytes, from), want);
        }
    }

    #[test]
    fn the_word_scan_is_exact_for_every_byte_in_every_position() {
        // One byte that needs (or does not need) an escape among plain ones, and behind
        // a byte that does: the lowest flagged lane must be the true first one.
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut w = *b"abcdefgh";
                w[pos] = b;
                let first = (0..8).find(|&k| needs_escape(w[k]));
                assert_eq!(next_escape(&w, 0), first, "byte {b:#x} at {pos}");
                if pos < 7 {
                    w[pos + 1] = b'"';
                    let first = (0..8).find(|&k| needs_escape(w[k]));
                    assert_eq!(
                        next_escape(&w, 0),
                        first,
                        "byte {b:#x} at {pos}, quote after"
                    );
                }
            }
        }
    }

    #[test]
    fn a_file_parses_and_a_cut_last_line_is_skipped() {
        let text = "{\"version\":2,\"width\":80,\"height\":24}\n[0.5,\"o\",\"hi\"]\n[1.0,\"r\",\"100x30\"]\n[1.5,\"o\",\"cu";
        let cast = Cast::parse(text).expect("parses");
        assert_eq!(cast.header.width, 80);
        assert_eq!(cast.events.len(), 2);
        assert_eq!(cast.events[1].size(), Some((100, 30)));
        assert_eq!(cast.output(), "hi");
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(matches!(Cast::parse(""), Err(ParseError::Empty)));
        assert!(matches!(
            Cast::parse("{\"version\":1,\"width\":80,\"height\":24}\n"),
            Err(ParseError::Version(1))
        ));
        let bad =
            "{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"x\",\"?\"]\n[0.2,\"o\",\"\"]\n";
        assert!(matches!(
            Cast::parse(bad),
            Err(ParseError::Line { line: 2, .. })
        ));
    }
}
