//! Fast-forward through floods of plain text without changing what the screen shows.
//!
//! Parsing every byte through the emulator is the costliest step of a session printing a
//! build log or `cat`-ing a big file (vt100 parses about 60 MB/s on one core). Most of those
//! lines scroll off the screen before anyone could see them. When a batch of output holds a
//! long run of plain lines (printable ASCII, CR and LF only), the lines in the middle of that
//! run cannot affect the final screen: at least `rows` newlines before them bring the cursor
//! to the bottom, and at least `rows` newlines after them scroll every row they touched out
//! of view, bringing in fresh rows that only later bytes fill. So they are skipped.
//!
//! What must hold, and how it is kept:
//! - the skipped run starts after the batch's first newline, so an escape sequence left
//!   open by the previous batch is finished by real bytes first (a CSI ends at its first
//!   letter; OSC/DCS strings stay open through plain text either way);
//! - the skip ends right after CR LF, so the cursor is in column 0 with no pending wrap;
//! - plain text cannot change attributes, modes or the cursor's column across CR LF;
//! - no scroll region may be set: with one, a cursor below the region would not scroll and
//!   skipped text could stay visible. [`FastForward`] watches for DECSTBM and stops skipping
//!   while a region may be set.
//!
//! The bytes still go to the scrollback and to every subscriber; only the emulator skips.

/// Tracks what makes skipping unsafe, across batches.
#[derive(Debug, Default)]
pub struct FastForward {
    /// A scroll region (DECSTBM with parameters) may be in effect.
    region_set: bool,
    /// The tail of the previous batch, so a sequence split across batches is still seen.
    carry: Vec<u8>,
}

fn is_plain(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) || b == b'\r' || b == b'\n'
}

impl FastForward {
    /// The range of `data` the emulator may skip, if any, for a screen `rows` high.
    pub fn plan(&mut self, data: &[u8], rows: u16) -> Option<(usize, usize)> {
        self.observe(data);
        if self.region_set {
            return None;
        }
        let rows = rows as usize;
        // Only worth a look when the batch could hold enough lines.
        if data.len() < 4 * rows {
            return None;
        }
        // Start after a CR LF preceded by a letter with only plain bytes since: any escape
        // sequence open before it has ended at that letter (or is a string that plain text
        // cannot end, which the skipped text could not have ended either).
        let mut letter = false;
        let mut start = None;
        for (i, &b) in data.iter().enumerate() {
            if !is_plain(b) {
                letter = false;
            } else if (0x40..=0x7e).contains(&b) {
                letter = true;
            } else if b == b'\n' && letter && i >= 1 && data[i - 1] == b'\r' {
                start = Some(i + 1);
                break;
            }
        }
        let start = start?;
        let end = data[start..]
            .iter()
            .position(|&b| !is_plain(b))
            .map_or(data.len(), |i| start + i);
        let run = &data[start..end];
        let newlines: Vec<usize> = run
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        // The latest CR LF with at least `rows` newlines up to it and `rows` after it.
        let mut k = newlines.len().checked_sub(1 + rows)?;
        loop {
            if k + 1 < rows {
                return None;
            }
            let nl = newlines[k];
            if nl >= 1 && run[nl - 1] == b'\r' {
                return Some((start, start + nl + 1));
            }
            k = k.checked_sub(1)?;
        }
    }

    /// Watches for scroll-region changes: `CSI Pt ; Pb r` sets one, `CSI r` and RIS clear it.
    fn observe(&mut self, data: &[u8]) {
        // A sequence split across batches is seen in the carried tail joined to this head;
        // the full scan after it decides the final state for anything later in `data`.
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(&data[..data.len().min(32)]);
        self.scan(&joined);
        self.scan(data);
        self.carry = data[data.len().saturating_sub(16)..].to_vec();
    }

    fn scan(&mut self, s: &[u8]) {
        let mut i = 0;
        while i + 1 < s.len() {
            if s[i] == 0x1b && s[i + 1] == b'c' {
                self.region_set = false;
            }
            if s[i] == 0x1b && s[i + 1] == b'[' {
                let mut j = i + 2;
                while j < s.len() && (s[j].is_ascii_digit() || s[j] == b';') {
                    j += 1;
                }
                if j < s.len() && s[j] == b'r' {
                    self.region_set = j > i + 2;
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU16;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn parser(rows: u16, cols: u16) -> vt100::Parser {
        vt100::Parser::new(
            NonZeroU16::new(rows).unwrap(),
            NonZeroU16::new(cols).unwrap(),
            0,
        )
    }

    const NOISE: &[&[u8]] = &[
        b"\x1b[31m",
        b"\x1b[1;44m",
        b"\x1b[0m",
        b"\x1b[H",
        b"\x1b[2J",
        b"\x1b[5;10H",
        b"\x1b[3;20r",
        b"\x1b[r",
        b"\x1b[?1049h",
        b"\x1b[?1049l",
        b"\x1b[?7l",
        b"\x1b[?7h",
        b"\x1b[4h",
        b"\x1b[4l",
        b"\x1b]0;title\x07",
        b"\x1b]0;unterminated",
        b"\x1b[",
        b"\x1b[12",
        b"\t",
        "é".as_bytes(),
        b"\x1bc",
        b"\r",
        b"\n",
        b"\x1b[2A",
    ];

    fn random_stream(rng: &mut Rng, cols: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..rng.below(6) + 1 {
            match rng.below(3) {
                0 => {
                    for _ in 0..rng.below(4) + 1 {
                        out.extend_from_slice(NOISE[rng.below(NOISE.len() as u64) as usize]);
                    }
                }
                _ => {
                    // A flood of plain lines, some longer than the screen is wide.
                    for i in 0..rng.below(300) {
                        let len = rng.below(cols as u64 * 2) as usize;
                        let c = b'a' + (i % 26) as u8;
                        out.extend(std::iter::repeat_n(c, len));
                        if rng.below(10) == 0 {
                            out.push(b'\n');
                        } else {
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn skipping_never_changes_the_screen() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut skipped_any = 0;
        for case in 0..400 {
            let (rows, cols) = (2 + rng.below(40) as u16, 10 + rng.below(100) as u16);
            let stream = random_stream(&mut rng, cols);
            let mut full = parser(rows, cols);
            let mut fast = parser(rows, cols);
            let mut ff = FastForward::default();
            // Random batch boundaries, as the reader would cut them.
            let mut i = 0;
            while i < stream.len() {
                let n = (1 + rng.below(20000) as usize).min(stream.len() - i);
                let batch = &stream[i..i + n];
                full.process(batch);
                match ff.plan(batch, rows) {
                    Some((a, b)) => {
                        skipped_any += 1;
                        fast.process(&batch[..a]);
                        fast.process(&batch[b..]);
                    }
                    None => fast.process(batch),
                }
                i += n;
            }
            assert_eq!(
                full.screen().contents_formatted(),
                fast.screen().contents_formatted(),
                "case {case}: {rows}x{cols}"
            );
            assert_eq!(
                full.screen().cursor_position(),
                fast.screen().cursor_position(),
                "case {case}"
            );
        }
        assert!(
            skipped_any > 50,
            "the fast path was hardly exercised: {skipped_any}"
        );
    }

    #[test]
    fn a_scroll_region_stops_skipping_until_reset() {
        let mut ff = FastForward::default();
        let flood: Vec<u8> = b"x\r\n".repeat(500);
        assert!(ff.plan(&flood, 24).is_some());
        let mut with_region = b"\x1b[2;10r".to_vec();
        with_region.extend_from_slice(&flood);
        assert!(ff.plan(&with_region, 24).is_none());
        assert!(ff.plan(&flood, 24).is_none());
        // Split across batches: still seen.
        let mut reset = flood.clone();
        reset.extend_from_slice(b"\x1b[");
        assert!(ff.plan(&reset, 24).is_none());
        let mut rest = b"r".to_vec();
        rest.extend_from_slice(&flood);
        ff.plan(&rest, 24);
        assert!(ff.plan(&flood, 24).is_some());
    }
}
