//! The neutral screen model: what a terminal screen looks like, cell by cell, with no tie to
//! any emulator. It is meant to travel as the host protocol's cell-snapshot message (JSON, like
//! the rest of the protocol), so it is built to be small on the wire and checked on arrival.
//!
//! # Encoding
//! A screen is a table of the distinct [`Style`]s it uses plus, per line, *runs* of cells that
//! share a style. Runs rather than one record per cell because a TUI screen is mostly long
//! stretches of one style (a 120x40 agent screen is a few hundred runs for 4800 cells), and a
//! per-cell JSON record would be ten times larger; the style table keeps a run to an index
//! and its text, since the same few styles repeat all over a screen. Blank cells in the default
//! style at the end of a line, and blank lines at the end of the screen, are left out.
//!
//! Cells are explicit where text alone would be ambiguous: in a plain run every `char` is one
//! narrow cell; a wide character (two columns) or a character with combining marks travels as
//! a run of its own with [`Run::cell_width`] set, so the reader never needs a Unicode width
//! table (whose version could differ from the sender's) to know where cells begin.
//!
//! A snapshot from the wire may be malformed; [`Snapshot::cells`] checks it against its size
//! and returns a [`SnapshotError`] instead of panicking.
//!
//! The conversion from an emulator screen lives with the emulator, in the host
//! (`walkie_session_host::from_vt100`): a client of the protocol needs no terminal emulator.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A colour as the program asked for it; the renderer's theme turns it into RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    /// The terminal's default foreground or background.
    #[default]
    Default,
    /// A palette entry: 0-15 the theme's ANSI colours, 16-231 the xterm colour cube,
    /// 232-255 the grey ramp.
    Indexed(u8),
    /// Truecolour.
    Rgb(u8, u8, u8),
}

impl Color {
    fn is_default(&self) -> bool {
        *self == Color::Default
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How a cell's text is drawn. Fields that are off are left out of the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Style {
    #[serde(default, skip_serializing_if = "Color::is_default")]
    pub fg: Color,
    #[serde(default, skip_serializing_if = "Color::is_default")]
    pub bg: Color,
    #[serde(default, skip_serializing_if = "is_false")]
    pub bold: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub dim: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub italic: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub underline: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub inverse: bool,
}

/// Cells of one line that share a style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Index into [`Snapshot::styles`].
    pub style: u32,
    /// The cells' text: see [`Run::cell_width`].
    pub text: String,
    /// `None`: every `char` of `text` is one narrow cell (a blank cell is a space).
    /// `Some(1)` or `Some(2)`: `text` is a single cell of that many columns: a wide
    /// character (whose second column is implied) or a character with combining marks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_width: Option<u8>,
}

/// Where the cursor is and whether the program shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    pub row: u16,
    pub col: u16,
    pub visible: bool,
}

/// One terminal screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub rows: u16,
    pub cols: u16,
    pub cursor: Cursor,
    /// The distinct styles the runs use.
    pub styles: Vec<Style>,
    /// Up to `rows` lines from the top, each of runs covering up to `cols` columns from the
    /// left; what is not covered is blank in the default style.
    pub lines: Vec<Vec<Run>>,
}

/// Most cells a snapshot may have (a 1000x1000 screen): the grid is allocated from the
/// sizes a peer sends, so they are bounded before anything is.
pub const MAX_CELLS: usize = 1_000_000;

/// Why a snapshot cannot be a screen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("a screen of {rows}x{cols} cells has no area")]
    Empty { rows: u16, cols: u16 },
    #[error("a screen of {rows}x{cols} cells is over the {MAX_CELLS}-cell limit")]
    TooLarge { rows: u16, cols: u16 },
    #[error("{lines} lines for a screen of {rows} rows")]
    TooManyLines { lines: usize, rows: u16 },
    #[error("line {line} is {width} columns wide, the screen {cols}")]
    LineTooLong {
        line: usize,
        width: usize,
        cols: u16,
    },
    #[error("line {line} uses style {style}, the table has {styles}")]
    UnknownStyle {
        line: usize,
        style: u32,
        styles: usize,
    },
    #[error("line {line} has a cell of width {width} holding {chars} chars (want width 1 or 2 and at least one char)")]
    BadCell {
        line: usize,
        width: u8,
        chars: usize,
    },
}

/// What occupies one cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// A narrow cell.
    One,
    /// The first column of a wide cell.
    Wide,
    /// The second column of a wide cell: drawn by the cell before it.
    Continuation,
}

/// One resolved cell: text borrowed from the snapshot, style from its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell<'a> {
    /// A base character and any combining marks after it; " " for a blank cell.
    pub text: &'a str,
    pub style: Style,
    pub span: Span,
}

const BLANK: Cell<'static> = Cell {
    text: " ",
    style: Style {
        fg: Color::Default,
        bg: Color::Default,
        bold: false,
        dim: false,
        italic: false,
        underline: false,
        inverse: false,
    },
    span: Span::One,
};

impl Snapshot {
    /// The screen as a row-major grid of `rows * cols` cells, or why it is malformed.
    pub fn cells(&self) -> Result<Vec<Cell<'_>>, SnapshotError> {
        let (rows, cols) = (usize::from(self.rows), usize::from(self.cols));
        if rows == 0 || cols == 0 {
            return Err(SnapshotError::Empty {
                rows: self.rows,
                cols: self.cols,
            });
        }
        if rows * cols > MAX_CELLS {
            return Err(SnapshotError::TooLarge {
                rows: self.rows,
                cols: self.cols,
            });
        }
        if self.lines.len() > rows {
            return Err(SnapshotError::TooManyLines {
                lines: self.lines.len(),
                rows: self.rows,
            });
        }
        let mut grid = vec![BLANK; rows * cols];
        for (line, runs) in self.lines.iter().enumerate() {
            let row = &mut grid[line * cols..(line + 1) * cols];
            let mut col = 0usize;
            let too_long = |width: usize| SnapshotError::LineTooLong {
                line,
                width,
                cols: self.cols,
            };
            for run in runs {
                let style = usize::try_from(run.style)
                    .ok()
                    .and_then(|i| self.styles.get(i))
                    .copied()
                    .ok_or(SnapshotError::UnknownStyle {
                        line,
                        style: run.style,
                        styles: self.styles.len(),
                    })?;
                match run.cell_width {
                    None => {
                        for (i, c) in run.text.char_indices() {
                            let slot = row
                                .get_mut(col)
                                .ok_or_else(|| too_long(col + run.text[i..].chars().count()))?;
                            *slot = Cell {
                                text: &run.text[i..i + c.len_utf8()],
                                style,
                                span: Span::One,
                            };
                            col += 1;
                        }
                    }
                    Some(width @ (1 | 2)) if !run.text.is_empty() => {
                        let end = col + usize::from(width);
                        if end > cols {
                            return Err(too_long(end));
                        }
                        row[col] = Cell {
                            text: &run.text,
                            style,
                            span: if width == 2 { Span::Wide } else { Span::One },
                        };
                        if width == 2 {
                            row[col + 1] = Cell {
                                text: " ",
                                style,
                                span: Span::Continuation,
                            };
                        }
                        col = end;
                    }
                    Some(width) => {
                        return Err(SnapshotError::BadCell {
                            line,
                            width,
                            chars: run.text.chars().count(),
                        })
                    }
                }
            }
        }
        Ok(grid)
    }

    /// The screen's text, one line per row with trailing blanks trimmed (for tests and text
    /// views that want the same cells the picture shows).
    pub fn text(&self) -> Result<String, SnapshotError> {
        let cells = self.cells()?;
        let mut out = String::new();
        for row in cells.chunks(usize::from(self.cols)) {
            let mut line = String::new();
            for cell in row.iter().filter(|c| c.span != Span::Continuation) {
                line.push_str(cell.text);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        Ok(out)
    }
}

/// Where secrets are drawn on a screen ([`Snapshot::secret_cells`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCells {
    /// How many occurrences were found.
    pub found: usize,
    /// Row-major, one flag per cell: set on every cell showing part of a secret, both
    /// columns of a wide character included.
    pub cells: Vec<bool>,
}

impl Snapshot {
    /// Finds every occurrence of each of `secrets` on the screen. A secret may continue from
    /// the end of one line to the start of the next, as a wrapped line shows it. Empty
    /// secrets are ignored.
    pub fn secret_cells(&self, secrets: &[&str]) -> Result<SecretCells, SnapshotError> {
        let cells = self.cells()?;
        // One char per cell that starts a character (continuations are left out), with the
        // index of that cell.
        let (chars, at): (Vec<char>, Vec<usize>) = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.span != Span::Continuation)
            .map(|(i, c)| (c.text.chars().next().unwrap_or(' '), i))
            .unzip();
        let mut masked = vec![false; cells.len()];
        let mut found = 0;
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let needle: Vec<char> = secret.chars().collect();
            let mut i = 0;
            while i + needle.len() <= chars.len() {
                if chars[i..i + needle.len()] == needle[..] {
                    for &cell in &at[i..i + needle.len()] {
                        masked[cell] = true;
                        if cells[cell].span == Span::Wide {
                            masked[cell + 1] = true;
                        }
                    }
                    found += 1;
                    i += needle.len();
                } else {
                    i += 1;
                }
            }
        }
        Ok(SecretCells {
            found,
            cells: masked,
        })
    }

    /// Replaces every occurrence of each of `secrets` on the screen ([`Snapshot::secret_cells`])
    /// with `*` cells (styles kept), so that a secret a program printed (a token in a careless
    /// `env`) is not in the picture. Returns how many occurrences were masked.
    pub fn mask_secrets(&mut self, secrets: &[&str]) -> Result<usize, SnapshotError> {
        let SecretCells {
            found,
            cells: masked,
        } = self.secret_cells(secrets)?;
        if found == 0 {
            return Ok(0);
        }
        let cells = self.cells()?;
        let cols = usize::from(self.cols);
        let mut b = Builder::new(self.rows);
        for (row, line) in cells.chunks(cols).enumerate() {
            for (col, cell) in line.iter().enumerate() {
                let hidden = masked[row * cols + col];
                match cell.span {
                    // A masked wide character becomes two masked narrow cells.
                    _ if hidden => b.cell("*", cell.style, false),
                    Span::Continuation => {}
                    span => b.cell(cell.text, cell.style, span == Span::Wide),
                }
            }
            b.end_line();
        }
        *self = b.finish(self.rows, self.cols, self.cursor);
        Ok(found)
    }
}

/// Builds a snapshot's style table and runs from cells given left to right, line by line:
/// [`Builder::cell`] for each cell of a line, [`Builder::end_line`], then [`Builder::finish`].
#[derive(Debug)]
pub struct Builder {
    styles: Vec<Style>,
    index: HashMap<Style, u32>,
    lines: Vec<Vec<Run>>,
    runs: Vec<Run>,
}

impl Builder {
    pub fn new(rows: u16) -> Builder {
        Builder {
            styles: Vec::new(),
            index: HashMap::new(),
            lines: Vec::with_capacity(usize::from(rows)),
            runs: Vec::new(),
        }
    }

    /// The next cell: `text` is one character (and any combining marks after it), a space
    /// for a blank cell; `wide` when it takes two columns (the second is not given).
    pub fn cell(&mut self, text: &str, style: Style, wide: bool) {
        let styles = &mut self.styles;
        let id = *self.index.entry(style).or_insert_with(|| {
            styles.push(style);
            u32::try_from(styles.len() - 1).unwrap_or(u32::MAX)
        });
        if wide || text.chars().nth(1).is_some() {
            self.runs.push(Run {
                style: id,
                text: text.to_string(),
                cell_width: Some(if wide { 2 } else { 1 }),
            });
            return;
        }
        match self.runs.last_mut() {
            Some(last) if last.style == id && last.cell_width.is_none() => last.text.push_str(text),
            _ => self.runs.push(Run {
                style: id,
                text: text.to_string(),
                cell_width: None,
            }),
        }
    }

    pub fn end_line(&mut self) {
        let mut runs = std::mem::take(&mut self.runs);
        trim_blank_end(&mut runs, &self.styles);
        self.lines.push(runs);
    }

    pub fn finish(mut self, rows: u16, cols: u16, cursor: Cursor) -> Snapshot {
        while self.lines.last().is_some_and(|l| l.is_empty()) {
            self.lines.pop();
        }
        Snapshot {
            rows,
            cols,
            cursor,
            styles: self.styles,
            lines: self.lines,
        }
    }
}

/// Drops default-style blanks at the end of a line: the reader fills them in.
fn trim_blank_end(runs: &mut Vec<Run>, styles: &[Style]) {
    while let Some(last) = runs.last_mut() {
        let default = usize::try_from(last.style)
            .ok()
            .and_then(|i| styles.get(i))
            .is_some_and(|s| *s == Style::default());
        if !default || last.cell_width.is_some() {
            return;
        }
        let kept = last.text.trim_end_matches(' ').len();
        if kept > 0 {
            last.text.truncate(kept);
            return;
        }
        runs.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: Style = Style {
        fg: Color::Indexed(1),
        ..BLANK.style
    };

    /// A screen from lines of text; `|` starts and ends red text, `中` is wide.
    fn screen(rows: u16, cols: u16, lines: &[&str]) -> Snapshot {
        let mut b = Builder::new(rows);
        for line in lines {
            let mut style = Style::default();
            for c in line.chars() {
                match c {
                    '|' if style == RED => style = Style::default(),
                    '|' => style = RED,
                    '中' => b.cell("中", style, true),
                    c => b.cell(c.encode_utf8(&mut [0; 4]), style, false),
                }
            }
            b.end_line();
        }
        b.finish(rows, cols, Cursor::default())
    }

    #[test]
    fn runs_group_equal_styles_and_trim_blank_ends() {
        let s = screen(4, 20, &["ab|cd| e   ", "", ""]);
        assert_eq!(s.lines.len(), 1, "blank lines at the end are left out");
        let texts: Vec<&str> = s.lines[0].iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["ab", "cd", " e"]);
        assert_eq!(s.text().expect("valid"), "abcd e\n\n\n\n");
    }

    #[test]
    fn json_round_trip_is_compact() {
        let s = screen(2, 10, &["|hi|"]);
        let json = serde_json::to_string(&s).expect("serialises");
        assert_eq!(
            json,
            r#"{"rows":2,"cols":10,"cursor":{"row":0,"col":0,"visible":false},"styles":[{"fg":{"indexed":1}}],"lines":[[{"style":0,"text":"hi"}]]}"#
        );
        let back: Snapshot = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, s);
    }

    #[test]
    fn secrets_are_masked_even_across_styles_and_wrapped_lines() {
        let secret = "123456:ABCdef";
        // Three times, each wrapped onto the next line: partly red, plain, after a wide
        // character.
        let mut s = screen(
            6,
            10,
            &[
                "id=123|4567",
                "|:ABCdef",
                "xxxx123456",
                ":ABCdef",
                "中123456:A",
                "BCdef",
            ],
        );
        assert_eq!(
            s.text().expect("valid"),
            "id=1234567\n:ABCdef\nxxxx123456\n:ABCdef\n中123456:A\nBCdef\n"
        );
        let mut s2 = s.clone();
        assert_eq!(s.mask_secrets(&[secret, ""]).expect("valid"), 2);
        assert_eq!(
            s.text().expect("valid"),
            "id=1234567\n:ABCdef\nxxxx******\n*******\n中********\n*****\n"
        );
        assert_eq!(s.mask_secrets(&[secret]).expect("valid"), 0);
        // Styles are kept: the red part is still red.
        assert_eq!(s2.mask_secrets(&["34567:ABC"]).expect("valid"), 1);
        let red: String = s2
            .lines
            .iter()
            .flatten()
            .filter(|r| s2.styles[r.style as usize] == RED)
            .map(|r| r.text.as_str())
            .collect();
        assert_eq!(red, "********def");
        assert_eq!(s2.text().expect("valid").lines().next(), Some("id=12*****"));
    }

    #[test]
    fn a_masked_wide_character_becomes_two_masked_cells() {
        let mut s = screen(1, 10, &["a中b"]);
        let found = s.secret_cells(&["中"]).expect("valid");
        assert_eq!(found.found, 1);
        assert_eq!(&found.cells[..4], [false, true, true, false]);
        assert_eq!(s.mask_secrets(&["中"]).expect("valid"), 1);
        assert_eq!(s.text().expect("valid"), "a**b\n");
        s.cells().expect("still well formed");
    }

    fn snap(rows: u16, cols: u16, lines: Vec<Vec<Run>>) -> Snapshot {
        Snapshot {
            rows,
            cols,
            cursor: Cursor::default(),
            styles: vec![Style::default()],
            lines,
        }
    }

    fn run(text: &str, cell_width: Option<u8>) -> Run {
        Run {
            style: 0,
            text: text.to_string(),
            cell_width,
        }
    }

    #[test]
    fn malformed_snapshots_are_errors() {
        let cases = [
            (snap(0, 5, vec![]), "no area"),
            (snap(u16::MAX, u16::MAX, vec![]), "cell limit"),
            (snap(1, 5, vec![vec![], vec![]]), "2 lines"),
            (snap(1, 3, vec![vec![run("abcd", None)]]), "4 columns"),
            (
                snap(1, 3, vec![vec![run("ab", None), run("中", Some(2))]]),
                "4 columns",
            ),
            (
                snap(1, 3, vec![vec![run("", Some(1))]]),
                "width 1 holding 0",
            ),
            (snap(1, 3, vec![vec![run("a", Some(3))]]), "width 3"),
            (
                snap(
                    1,
                    3,
                    vec![vec![Run {
                        style: 7,
                        text: "a".into(),
                        cell_width: None,
                    }]],
                ),
                "style 7",
            ),
        ];
        for (s, want) in cases {
            let err = s.cells().expect_err(want).to_string();
            assert!(err.contains(want), "{err:?} should say {want:?}");
            assert!(s.secret_cells(&["a"]).is_err());
        }
        // The exact fit is fine.
        snap(1, 3, vec![vec![run("a", None), run("中", Some(2))]])
            .cells()
            .expect("fits");
    }
}
