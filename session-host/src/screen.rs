//! The views of a session's screen: plain text, ANSI text and the cell snapshot, every one
//! with the host's secrets masked.
//!
//! The host knows which environment variables are secrets (it strips them from sessions);
//! [`Secrets`] holds their values, read from the host's own environment at start, plus the
//! secret values of the configuration (the bot token). A program that prints one (a careless
//! `env`, a `cat .env`) would show it on the phone: every view the host answers
//! (`screen`, `screen --ansi`, `tail`, the snapshot of a picture) is drawn from a copy of the
//! emulator screen whose cells showing a secret are overwritten with `*`, one per cell, in
//! the cell's own style. Attach is the raw terminal, like ssh, and is not masked.
//!
//! Finding a secret uses the snapshot's search ([`Snapshot::secret_cells`]), so a secret
//! wrapped over two lines, or drawn in several colours, is found as it is in a picture.

use std::fmt::Write;

use walkie_host_proto::snapshot::{Builder, Color, Cursor, Snapshot, Style};

/// Secret values shorter than this are not masked: masking `1234` would blank every such
/// number on every screen, and so short a value is no secret worth the name.
pub const MIN_SECRET_LEN: usize = 6;

/// The secret values to mask on screens.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

/// The secret values the host masks (on screens and in recordings): those of the variables
/// `names` (looked up with `env`: the host's own environment, read once at start) and the
/// `configured` ones; empty values left out.
pub fn secret_values(
    names: &[String],
    configured: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| env(n))
        .chain(configured.iter().cloned())
        .filter(|v| !v.is_empty())
        .collect()
}

impl Secrets {
    /// The values to mask: `values`, less duplicates and values shorter than
    /// [`MIN_SECRET_LEN`] (logged by name count only, never by value).
    pub fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut kept: Vec<String> = Vec::new();
        let mut short = 0;
        for v in values {
            let v = v.trim().to_string();
            if v.is_empty() {
                continue;
            }
            if v.chars().count() < MIN_SECRET_LEN {
                short += 1;
            } else if !kept.contains(&v) {
                kept.push(v);
            }
        }
        if short > 0 {
            tracing::warn!(
                short,
                "secret values shorter than {MIN_SECRET_LEN} characters are not masked on screens"
            );
        }
        // Longest first: a secret containing another is masked whole.
        kept.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Secrets { values: kept }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A copy of `screen` with every cell showing a secret overwritten with `*` in its own
    /// style; `None` when no secret is on it (then `screen` itself is the view).
    pub fn mask(&self, screen: &vt100::Screen) -> Option<vt100::Parser> {
        if self.values.is_empty() {
            return None;
        }
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        // A snapshot from the emulator is always well formed (its size is the screen's).
        let found = from_vt100(screen).secret_cells(&values).ok()?;
        if found.found == 0 {
            return None;
        }
        let (rows, cols) = screen.size();
        let mut copy = vt100::Parser::new(rows, cols, 0);
        *copy.screen_mut() = screen.clone();
        let cols = usize::from(cols.get());
        // Save the cursor and pen, absolute positions (origin mode off), then one `*` per
        // cell, then restore: the copy's cursor and pen are the screen's.
        let mut out = String::from("\x1b7\x1b[?6l");
        for (i, _) in found.cells.iter().enumerate().filter(|(_, m)| **m) {
            let (Ok(row), Ok(col)) = (u16::try_from(i / cols), u16::try_from(i % cols)) else {
                continue;
            };
            // The second column of a wide character takes the character's style.
            let styled = match screen.cell(row, col) {
                Some(c) if c.is_wide_continuation() && col > 0 => screen.cell(row, col - 1),
                other => other,
            };
            let sgr = styled.map(sgr).unwrap_or_default();
            let _ = write!(out, "\x1b[{};{}H\x1b[0{sgr}m*", row + 1, col + 1);
        }
        out.push_str("\x1b8");
        copy.process(out.as_bytes());
        Some(copy)
    }
}

/// The SGR parameters (after a leading `0`) that draw a cell's attributes.
fn sgr(c: &vt100::Cell) -> String {
    let mut s = String::new();
    for (on, code) in [
        (c.bold(), ";1"),
        (c.dim(), ";2"),
        (c.italic(), ";3"),
        (c.underline(), ";4"),
        (c.inverse(), ";7"),
    ] {
        if on {
            s.push_str(code);
        }
    }
    for (color, base) in [(c.fgcolor(), 38), (c.bgcolor(), 48)] {
        match color {
            vt100::Color::Default => {}
            vt100::Color::Idx(i) => {
                let _ = write!(s, ";{base};5;{i}");
            }
            vt100::Color::Rgb(r, g, b) => {
                let _ = write!(s, ";{base};2;{r};{g};{b}");
            }
        }
    }
    s
}

/// A snapshot of an emulator screen (the host's vt100 screen of a session).
pub fn from_vt100(screen: &vt100::Screen) -> Snapshot {
    let (rows, cols) = screen.size();
    let (rows, cols) = (rows.get(), cols.get());
    let mut b = Builder::new(rows);
    for row in 0..rows {
        let mut col = 0;
        while col < cols {
            let Some(cell) = screen.cell(row, col) else {
                break;
            };
            let style = Style {
                fg: color(cell.fgcolor()),
                bg: color(cell.bgcolor()),
                bold: cell.bold(),
                dim: cell.dim(),
                italic: cell.italic(),
                underline: cell.underline(),
                inverse: cell.inverse(),
            };
            let text = match cell.contents() {
                "" => " ",
                t => t,
            };
            // A wide character needs its second column on this line; vt100 wraps it before
            // that, but a resize could leave one in the last column: send it narrow then.
            let wide = cell.is_wide() && col + 1 < cols;
            b.cell(text, style, wide);
            col += if wide { 2 } else { 1 };
        }
        b.end_line();
    }
    let (crow, ccol) = screen.cursor_position();
    b.finish(
        rows,
        cols,
        Cursor {
            row: crow,
            col: ccol,
            visible: !screen.hide_cursor(),
        },
    )
}

fn color(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Default,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkie_host_proto::snapshot::Span;

    fn screen(rows: u16, cols: u16, bytes: &[u8]) -> vt100::Parser {
        let nz = |n: u16| std::num::NonZeroU16::new(n).expect("non-zero size");
        let mut p = vt100::Parser::new(nz(rows), nz(cols), 0);
        p.process(bytes);
        p
    }

    #[test]
    fn runs_group_equal_styles_and_trim_blank_ends() {
        let p = screen(4, 20, b"ab\x1b[31mcd\x1b[0m e\r\n\x1b[44m  \x1b[0m\r\n");
        let s = from_vt100(p.screen());
        assert_eq!(s.lines.len(), 2, "blank lines at the end are left out");
        let texts: Vec<&str> = s.lines[0].iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["ab", "cd", " e"]);
        assert_eq!(s.styles[s.lines[0][1].style as usize].fg, Color::Indexed(1));
        // Blanks with a background are kept: they are visible.
        assert_eq!(s.lines[1].len(), 1);
        assert_eq!(s.lines[1][0].text, "  ");
        assert_eq!(s.text().expect("valid"), "abcd e\n\n\n\n");
    }

    #[test]
    fn wide_and_combining_cells_travel_alone() {
        let p = screen(2, 10, "a中b e\u{301}".as_bytes());
        let s = from_vt100(p.screen());
        let runs: Vec<(&str, Option<u8>)> = s.lines[0]
            .iter()
            .map(|r| (r.text.as_str(), r.cell_width))
            .collect();
        assert_eq!(
            runs,
            [
                ("a", None),
                ("中", Some(2)),
                ("b ", None),
                ("e\u{301}", Some(1))
            ]
        );
        let cells = s.cells().expect("valid");
        assert_eq!(cells[1].span, Span::Wide);
        assert_eq!(cells[2].span, Span::Continuation);
        assert_eq!(cells[3].text, "b");
        assert_eq!(cells[5].text, "e\u{301}");
    }

    #[test]
    fn colours_attributes_and_cursor_are_kept() {
        let p = screen(
            3,
            10,
            b"\x1b[1;3;4;7;2;38;5;200;48;2;1;2;3mX\x1b[0m\x1b[?25l\x1b[2;5H",
        );
        let s = from_vt100(p.screen());
        let st = s.styles[s.lines[0][0].style as usize];
        assert_eq!(
            st,
            Style {
                fg: Color::Indexed(200),
                bg: Color::Rgb(1, 2, 3),
                // vt100 keeps one intensity: dim (SGR 2) after bold replaces it
                bold: false,
                dim: true,
                italic: true,
                underline: true,
                inverse: true,
            }
        );
        assert_eq!(
            s.cursor,
            Cursor {
                row: 1,
                col: 4,
                visible: false
            }
        );
    }

    #[test]
    fn json_round_trip_is_compact() {
        let p = screen(2, 10, b"\x1b[31mhi\x1b[0m");
        let s = from_vt100(p.screen());
        let json = serde_json::to_string(&s).expect("serialises");
        assert_eq!(
            json,
            r#"{"rows":2,"cols":10,"cursor":{"row":0,"col":2,"visible":true},"styles":[{"fg":{"indexed":1}},{}],"lines":[[{"style":0,"text":"hi"}]]}"#
        );
        let back: Snapshot = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, s);
    }

    const TOKEN: &str = "123456:ABCdef";

    #[test]
    fn every_view_of_a_masked_screen_hides_the_secret() {
        let secrets = Secrets::new(["  ".to_string(), "1234".into(), TOKEN.into(), TOKEN.into()]);
        assert_eq!(
            secrets.len(),
            1,
            "blank, short and repeated values are dropped"
        );
        // Red, wrapped over a line end, after a wide character; the cursor elsewhere.
        let p = screen(
            4,
            10,
            "tok=\x1b[31m123456:ABCdef\x1b[0m\r\n中123456:ABCdef\x1b[4;3H\x1b[1m".as_bytes(),
        );
        let masked = secrets
            .mask(p.screen())
            .expect("the token is on the screen");
        let m = masked.screen();
        // Wrapped rows are one line of plain text.
        assert_eq!(m.contents(), "tok=*************\n中*************");
        let ansi = m.contents_formatted();
        assert!(
            !ansi.contains("ABCdef") && ansi.contains("\x1b[31m******"),
            "{ansi:?}"
        );
        assert!(!from_vt100(m).text().expect("valid").contains("ABCdef"));
        // Style, cursor and pen are the screen's.
        assert_eq!(
            m.cell(0, 5).map(|c| c.fgcolor()),
            Some(vt100::Color::Idx(1))
        );
        assert_eq!(
            m.cell(0, 3).map(|c| c.fgcolor()),
            Some(vt100::Color::Default)
        );
        assert_eq!(m.cursor_position(), (3, 2));
        assert!(m.bold(), "the pen is restored");
        // A screen without the secret is not copied.
        assert!(secrets
            .mask(screen(2, 10, b"123456:ABC").screen())
            .is_none());
        assert!(Secrets::default().mask(p.screen()).is_none());
    }

    #[test]
    fn secrets_are_read_from_the_environment_by_name() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret-value".to_string());
        let s = Secrets::new(secret_values(
            &["TOKEN".to_string(), "UNSET".into()],
            &["configured-token".into()],
            env,
        ));
        assert_eq!(s.values, ["configured-token", "s3cret-value"]);
    }
}
