//! A session's output history, capped in bytes: the oldest bytes go first, so a program
//! that redraws forever cannot grow the host's memory.

use std::collections::VecDeque;

use crate::screen::Secrets;

/// Byte ring of the most recent output.
#[derive(Debug)]
pub struct Scrollback {
    buf: VecDeque<u8>,
    cap: usize,
    total: u64,
}

impl Scrollback {
    pub fn new(cap: usize) -> Self {
        Scrollback {
            buf: VecDeque::new(),
            cap: cap.max(1),
            total: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let data = if data.len() > self.cap {
            &data[data.len() - self.cap..]
        } else {
            data
        };
        let over = (self.buf.len() + data.len()).saturating_sub(self.cap);
        self.buf.drain(..over);
        self.buf.extend(data);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes ever pushed.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }

    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        let (a, b) = self.buf.as_slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        v
    }

    /// The last `lines` lines as plain text, rendered through a terminal emulator `cols` wide
    /// so that colours, cursor moves and carriage returns come out as a person saw them,
    /// `secrets` masked.
    pub fn tail_text(&self, lines: usize, cols: u16, secrets: &Secrets) -> String {
        let lines = lines.clamp(1, 5000);
        // One spare row: output ending in a newline leaves the cursor on a blank last row.
        let rows = (lines + 1) as u16;
        let (Some(r), Some(c)) = (
            std::num::NonZeroU16::new(rows),
            std::num::NonZeroU16::new(cols.max(1)),
        ) else {
            return String::new();
        };
        let mut p = vt100::Parser::new(r, c, 0);
        let (a, b) = self.buf.as_slices();
        p.process(a);
        p.process(b);
        let masked = secrets.mask(p.screen());
        let text = masked
            .as_ref()
            .map_or(p.screen(), |m| m.screen())
            .contents();
        // The emulator's screen is `rows` tall; when fewer lines were printed the tail is
        // blank, which is not output.
        let trimmed: Vec<&str> = text.lines().collect();
        let end = trimmed
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |i| i + 1);
        trimmed[end.saturating_sub(lines)..end].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_bytes() {
        let mut s = Scrollback::new(10);
        s.push(b"0123456789abc");
        assert_eq!(s.to_vec(), b"3456789abc");
        s.push(b"XY");
        assert_eq!(s.to_vec(), b"56789abcXY");
        assert_eq!(s.total(), 15);
        for _ in 0..1000 {
            s.push(b"redraw");
        }
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn tail_renders_lines() {
        let mut s = Scrollback::new(1 << 16);
        for i in 0..100 {
            s.push(format!("\x1b[31mline {i}\x1b[0m\r\n").as_bytes());
        }
        s.push(b"progress 10%\rprogress 99%");
        let none = Secrets::default();
        assert_eq!(s.tail_text(3, 80, &none), "line 98\nline 99\nprogress 99%");
        s.push(b"\r\ntoken=\x1b[1mabc-secret-xyz\x1b[0m!");
        let secrets = Secrets::new(["abc-secret-xyz".to_string()]);
        assert_eq!(
            s.tail_text(2, 80, &secrets),
            "progress 99%\ntoken=**************!"
        );
    }
}
