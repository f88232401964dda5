//! [`Snapshot`] to PNG.
//!
//! The picture is a title bar over the screen's grid of fixed-size cells, with a margin.
//! Backgrounds are filled as rectangles first, then every cell's foreground is blended on top
//! from an alpha mask: a font glyph (DejaVu Sans Mono regular or bold, DejaVu Sans for what
//! the monospace font lacks), a shape from the `geometry` module, or a boxed "?" for a glyph no
//! font has. Masks are cached per (text, bold, italic, wide) in the [`Renderer`], so a
//! long-lived renderer rasterises each character once.

use crate::geometry;
use crate::quantise;
use crate::theme::{Rgb, Theme};
use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve};
use ab_glyph_rasterizer::{point, Point, Rasterizer};
use std::collections::HashMap;
use walkie_host_proto::snapshot::{Cell, Snapshot, SnapshotError, Span, Style};

/// Font size (em, in pixels) for a phone: twice a 14 px desktop terminal font, so a
/// 120-column screen is about 2000 pixels wide and stays legible when zoomed.
pub const PHONE_FONT_PX: f32 = 28.0;

/// Largest picture rendered, in pixels (about 100 MB of RGB while drawing).
pub const MAX_PIXELS: u64 = 32 * 1024 * 1024;

/// Coverage levels of glyph edges (255 / (levels - 1) must be whole). Four (two in-between
/// shades per colour pair) read the same as 256 at phone size (the OCR test reads them back),
/// and make a screen's colours few and repetitive: an agent's screen fits an indexed PNG
/// exactly, a screen full of colour keeps its cells' colours in one, and deflate finds the
/// same glyph in the same colours again. 16 levels: the 120x40 diff was 355 KB, 4: 268 KB
/// (docs/PERFORMANCE.md).
pub const COVERAGE_LEVELS: u8 = 4;

/// Slant of synthetic italics (DejaVu Sans Mono Oblique's angle is about 11 degrees).
const ITALIC_SLANT: f32 = 0.2;

/// The words of the title bar; all empty means no title bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Title {
    pub session: String,
    pub host: String,
    /// Already formatted by the caller (this crate knows no clock or time zone).
    pub time: String,
}

/// How to draw a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    pub theme: Theme,
    pub title: Title,
}

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("malformed snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("a {width}x{height} picture is over the {MAX_PIXELS}-pixel limit")]
    TooLarge { width: u64, height: u64 },
    #[error("embedded font unreadable: {0}")]
    Font(String),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// Where things are in the picture, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub cell_width: u32,
    pub cell_height: u32,
    /// Top left of the cell grid.
    pub grid_left: u32,
    pub grid_top: u32,
    /// Height of the title bar (0 without one).
    pub title_height: u32,
}

impl Layout {
    /// Top left pixel of cell (`row`, `col`).
    pub fn cell_origin(&self, row: u16, col: u16) -> (u32, u32) {
        (
            self.grid_left + u32::from(col) * self.cell_width,
            self.grid_top + u32::from(row) * self.cell_height,
        )
    }
}

/// An RGB picture, row-major, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Image {
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.rgb.get(i..i + 3).map(|p| [p[0], p[1], p[2]])
    }

    /// The picture as PNG, indexed (one byte a pixel, not three) whenever it can be: exact
    /// at most 256 colours (an agent's screen has a few dozen: its colour pairs times
    /// [`COVERAGE_LEVELS`]), else with the cells' own colours kept and glyph edges' colours
    /// mapped to the nearest entry (`quantise`); RGB only when the cells' colours alone do
    /// not fit (a truecolour gradient). No filter and zlib level 3 (zlib-rs): on palette
    /// indices the Up filter only scrambles what deflate would find repeated along a row
    /// (the same glyph in the same colours); level 3 is the smallest level that keeps the
    /// 120x40 diff well inside its time (figures in docs/PERFORMANCE.md). Slower than
    /// [`Picture::png`], which knows the colours as drawn: for pictures made elsewhere.
    pub fn png(&self) -> Result<Vec<u8>, RenderError> {
        match quantise::indexed(&self.rgb, self.width as usize) {
            Some((colours, pixels)) => {
                encode(self.width, self.height, Pixels::Indexed(&colours, &pixels))
            }
            None => encode(self.width, self.height, Pixels::Rgb(&self.rgb)),
        }
    }
}

/// A glyph's coverage, placed relative to the top left of its cell box.
#[derive(Debug, Clone)]
struct Mask {
    left: i32,
    top: i32,
    w: usize,
    h: usize,
    alpha: Vec<u8>,
}

const BOLD: u8 = 1;
const ITALIC: u8 = 2;
const WIDE: u8 = 4;

/// Draws snapshots; keep one to reuse its glyph cache. Drawing takes `&mut self` (the cache
/// grows), so callers share one behind a mutex or keep one per worker thread; it is `Send`,
/// so it can move into `spawn_blocking`.
pub struct Renderer {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
    fallback: FontRef<'static>,
    /// Font units to pixels.
    units: f32,
    cell_w: usize,
    cell_h: usize,
    baseline: f32,
    /// Light line thickness for box drawing, underline and placeholder.
    line: usize,
    chars: HashMap<(char, u8), Option<Mask>>,
    clusters: HashMap<(String, u8), Option<Mask>>,
}

impl Renderer {
    /// A renderer for fonts of `font_px` pixels per em ([`PHONE_FONT_PX`] for phones).
    pub fn new(font_px: f32) -> Result<Renderer, RenderError> {
        let load = |data: &'static [u8]| {
            FontRef::try_from_slice(data).map_err(|e| RenderError::Font(e.to_string()))
        };
        let regular = load(dejavu::sans_mono::regular())?;
        let bold = load(dejavu::sans_mono::bold())?;
        let fallback = load(dejavu::sans::regular())?;
        let font_px = if font_px.is_finite() {
            font_px.clamp(4.0, 200.0)
        } else {
            PHONE_FONT_PX
        };
        let units = font_px / regular.units_per_em().unwrap_or(2048.0);
        let advance = regular.h_advance_unscaled(regular.glyph_id('M')) * units;
        let ascent = regular.ascent_unscaled() * units;
        let height = (regular.ascent_unscaled() - regular.descent_unscaled()) * units;
        Ok(Renderer {
            regular,
            bold,
            fallback,
            units,
            cell_w: (advance.round() as usize).max(1),
            cell_h: (height.ceil() as usize).max(1),
            baseline: ascent.round(),
            line: ((font_px / 14.0).round() as usize).max(1),
            chars: HashMap::new(),
            clusters: HashMap::new(),
        })
    }

    /// Where a screen of `rows` x `cols` goes in its picture.
    pub fn layout(&self, rows: u16, cols: u16, title: &Title) -> Layout {
        let pad = (self.cell_w * 3 / 4) as u32;
        let (cw, ch) = (self.cell_w as u32, self.cell_h as u32);
        let title_height =
            if title.session.is_empty() && title.host.is_empty() && title.time.is_empty() {
                0
            } else {
                ch + pad
            };
        Layout {
            width: 2 * pad + u32::from(cols) * cw,
            height: title_height + 2 * pad + u32::from(rows) * ch,
            cell_width: cw,
            cell_height: ch,
            grid_left: pad,
            grid_top: title_height + pad,
            title_height,
        }
    }

    /// The snapshot as a PNG file's bytes.
    pub fn render_png(
        &mut self,
        snapshot: &Snapshot,
        options: &RenderOptions,
    ) -> Result<Vec<u8>, RenderError> {
        self.draw(snapshot, options)?.png()
    }

    /// The snapshot as an RGB picture.
    pub fn render(
        &mut self,
        snapshot: &Snapshot,
        options: &RenderOptions,
    ) -> Result<Image, RenderError> {
        Ok(self.draw(snapshot, options)?.to_image())
    }

    /// The snapshot drawn, as the colours it was drawn with and each pixel's among them.
    pub fn draw(
        &mut self,
        snapshot: &Snapshot,
        options: &RenderOptions,
    ) -> Result<Picture, RenderError> {
        let layout = self.layout(snapshot.rows, snapshot.cols, &options.title);
        let (width, height) = (u64::from(layout.width), u64::from(layout.height));
        if width * height > MAX_PIXELS {
            return Err(RenderError::TooLarge { width, height });
        }
        let cells = snapshot.cells()?;
        let theme = &options.theme;
        let mut canvas = Canvas::new(
            layout.width as usize,
            layout.height as usize,
            theme.background,
        );
        if layout.title_height > 0 {
            self.title_bar(&mut canvas, &layout, &options.title, snapshot.cols, theme);
        }
        let cols = usize::from(snapshot.cols);
        let cursor = snapshot.cursor;
        let cursor_at = |row: usize, col: usize| -> bool {
            if !cursor.visible || usize::from(cursor.row) != row {
                return false;
            }
            let c = usize::from(cursor.col);
            // A cursor on the second column of a wide cell covers the whole cell.
            let start = match cells.get(row * cols + c) {
                Some(cell) if cell.span == Span::Continuation && c > 0 => c - 1,
                _ => c,
            };
            col == start
                || (col == start + 1
                    && cells
                        .get(row * cols + start)
                        .is_some_and(|x| x.span == Span::Wide))
        };
        let colours = |row: usize, col: usize, style: &Style| -> (Rgb, Rgb) {
            let mut fg = theme.rgb(style.fg, theme.foreground);
            let mut bg = theme.rgb(style.bg, theme.background);
            if style.inverse != cursor_at(row, col) {
                std::mem::swap(&mut fg, &mut bg);
            }
            if style.dim {
                fg = mix(bg, fg, 128);
            }
            (fg, bg)
        };
        let (cw, ch) = (self.cell_w, self.cell_h);
        for (i, cell) in cells.iter().enumerate() {
            let (row, col) = (i / cols, i % cols);
            let (_, bg) = colours(row, col, &cell.style);
            if bg != theme.background {
                let (x, y) = layout.cell_origin(row as u16, col as u16);
                canvas.fill(x as usize, y as usize, cw, ch, bg);
            }
        }
        // Foregrounds after all backgrounds: a glyph may reach into its neighbours.
        for (i, cell) in cells.iter().enumerate() {
            if cell.span == Span::Continuation {
                continue;
            }
            let (row, col) = (i / cols, i % cols);
            let (fg, _) = colours(row, col, &cell.style);
            let (x, y) = layout.cell_origin(row as u16, col as u16);
            let (x, y) = (x as usize, y as usize);
            if cell.text != " " {
                if let Some(mask) = self.mask(cell) {
                    canvas.blend(x, y, mask, fg);
                }
            }
            if cell.style.underline {
                let w = if cell.span == Span::Wide { 2 * cw } else { cw };
                let uy = (self.baseline as usize + 2 * self.line).min(ch.saturating_sub(self.line));
                canvas.fill(x, y + uy, w, self.line, fg);
            }
        }
        Ok(canvas.into_picture())
    }

    fn title_bar(
        &mut self,
        canvas: &mut Canvas,
        layout: &Layout,
        title: &Title,
        cols: u16,
        theme: &Theme,
    ) {
        let fg = theme.title_foreground;
        canvas.fill(
            0,
            0,
            canvas.w,
            layout.title_height as usize,
            theme.title_background,
        );
        let y = (layout.title_height as usize - self.cell_h) / 2;
        let right: String = [title.host.as_str(), title.time.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("  ·  ");
        let cols = usize::from(cols);
        let right_len = right.chars().count().min(cols);
        // The session name on the left in bold, host and time on the right; the name gives
        // way when both do not fit.
        let room = cols.saturating_sub(right_len + 2);
        let left = layout.grid_left as usize;
        for (i, c) in title.session.chars().take(room).enumerate() {
            self.title_char(canvas, c, BOLD, left + i * self.cell_w, y, fg);
        }
        let start = left + (cols - right_len) * self.cell_w;
        for (i, c) in right.chars().take(right_len).enumerate() {
            self.title_char(canvas, c, 0, start + i * self.cell_w, y, fg);
        }
    }

    fn title_char(&mut self, canvas: &mut Canvas, c: char, flags: u8, x: usize, y: usize, fg: Rgb) {
        if c == ' ' {
            return;
        }
        if let Some(mask) = self.char_mask(c, flags) {
            canvas.blend(x, y, mask, fg);
        }
    }

    fn mask(&mut self, cell: &Cell<'_>) -> Option<&Mask> {
        let mut flags = 0;
        if cell.style.bold {
            flags |= BOLD;
        }
        if cell.style.italic {
            flags |= ITALIC;
        }
        if cell.span == Span::Wide {
            flags |= WIDE;
        }
        let mut chars = cell.text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => self.char_mask(c, flags),
            _ => {
                let key = (cell.text.to_string(), flags);
                if !self.clusters.contains_key(&key) {
                    let m = self.rasterise(cell.text, flags);
                    self.clusters.insert(key.clone(), m);
                }
                self.clusters.get(&key).and_then(|m| m.as_ref())
            }
        }
    }

    fn char_mask(&mut self, c: char, flags: u8) -> Option<&Mask> {
        if !self.chars.contains_key(&(c, flags)) {
            let mut buf = [0u8; 4];
            let m = self.rasterise(c.encode_utf8(&mut buf), flags);
            self.chars.insert((c, flags), m);
        }
        self.chars.get(&(c, flags)).and_then(|m| m.as_ref())
    }

    /// The font (and glyph) that draws `c`: bold or regular monospace, then the
    /// proportional fallback.
    fn font_for(&self, c: char, bold: bool) -> Option<(&FontRef<'static>, GlyphId)> {
        let order = if bold {
            [&self.bold, &self.regular, &self.fallback]
        } else {
            [&self.regular, &self.fallback, &self.fallback]
        };
        order.into_iter().find_map(|f| {
            let id = f.glyph_id(c);
            (id.0 != 0).then_some((f, id))
        })
    }

    /// Draws `text` (one cell: a character and its combining marks) into a mask.
    fn rasterise(&self, text: &str, flags: u8) -> Option<Mask> {
        let box_w = if flags & WIDE != 0 {
            2 * self.cell_w
        } else {
            self.cell_w
        };
        let base = text.chars().next()?;
        if let Some(alpha) = geometry::mask(base, box_w, self.cell_h, self.line) {
            return Some(Mask {
                left: 0,
                top: 0,
                w: box_w,
                h: self.cell_h,
                alpha,
            });
        }
        if base.is_control() {
            return Some(self.placeholder(box_w));
        }
        let bold = flags & BOLD != 0;
        let slant = if flags & ITALIC != 0 {
            ITALIC_SLANT
        } else {
            0.0
        };
        let Some((font, id)) = self.font_for(base, bold) else {
            return Some(self.placeholder(box_w));
        };
        let advance = font.h_advance_unscaled(id) * self.units;
        // A fallback glyph wider than its box is shrunk to fit rather than overlapping.
        let scale = if advance > box_w as f32 * 1.05 {
            box_w as f32 / advance
        } else {
            1.0
        };
        let pen = (box_w as f32 - advance * scale) / 2.0;
        let mut parts = Vec::new();
        if let Some(outline) = font.outline(id) {
            parts.push((outline.curves, pen));
        }
        // The rest of the cell's text is combining marks. A mark with an advance of its own
        // (the monospace font's) is drawn in its own box, so it goes over the base from the
        // same place; a zero-advance mark (the proportional font's) hangs back over the
        // glyph before it, so it goes after the base.
        for c in text.chars().skip(1) {
            let Some((f, g)) = self.font_for(c, bold) else {
                continue;
            };
            let mark_advance = f.h_advance_unscaled(g) * self.units * scale;
            let at = if mark_advance > 0.0 {
                pen + (advance * scale - mark_advance) / 2.0
            } else {
                pen + advance * scale
            };
            if let Some(outline) = f.outline(g) {
                parts.push((outline.curves, at));
            }
        }
        let k = self.units * scale;
        let baseline = self.baseline;
        let place = |p: &ab_glyph::Point, pen: f32| -> Point {
            point(pen + (p.x + p.y * slant) * k, baseline - p.y * k)
        };
        // Control points bound their curves, so their box bounds the glyph.
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (curves, pen) in &parts {
            for c in curves {
                for p in curve_points(c) {
                    let q = place(p, *pen);
                    x0 = x0.min(q.x);
                    y0 = y0.min(q.y);
                    x1 = x1.max(q.x);
                    y1 = y1.max(q.y);
                }
            }
        }
        if x0 > x1 {
            return None; // nothing to draw (a space-like glyph)
        }
        let (left, top) = (x0.floor(), y0.floor());
        let w = (x1.ceil() - left) as usize + 1;
        let h = (y1.ceil() - top) as usize + 1;
        let mut r = Rasterizer::new(w, h);
        let shift = |p: &ab_glyph::Point, pen: f32| {
            let q = place(p, pen);
            point(q.x - left, q.y - top)
        };
        for (curves, pen) in &parts {
            for c in curves {
                match c {
                    OutlineCurve::Line(a, b) => r.draw_line(shift(a, *pen), shift(b, *pen)),
                    OutlineCurve::Quad(a, b, c) => {
                        r.draw_quad(shift(a, *pen), shift(b, *pen), shift(c, *pen))
                    }
                    OutlineCurve::Cubic(a, b, c, d) => r.draw_cubic(
                        shift(a, *pen),
                        shift(b, *pen),
                        shift(c, *pen),
                        shift(d, *pen),
                    ),
                }
            }
        }
        let mut alpha = vec![0u8; w * h];
        r.for_each_pixel(|i, v| {
            if let Some(a) = alpha.get_mut(i) {
                *a = coverage(v);
            }
        });
        Some(Mask {
            left: left as i32,
            top: top as i32,
            w,
            h,
            alpha,
        })
    }

    /// A boxed question mark: the character exists but no embedded font can draw it.
    fn placeholder(&self, box_w: usize) -> Mask {
        let (w, h, t) = (box_w, self.cell_h, self.line);
        let mut alpha = vec![0u8; w * h];
        let inset = t;
        let (x0, x1) = (inset, w.saturating_sub(inset));
        let (y0, y1) = (h / 8, h - h / 8);
        for y in y0..y1 {
            for x in x0..x1 {
                if y < y0 + t || y + t >= y1 || x < x0 + t || x + t >= x1 {
                    alpha[y * w + x] = 255;
                }
            }
        }
        // The question mark at two thirds size, centred in the box.
        let q = self.rasterise("?", 0).map(|m| {
            let k = 2.0 / 3.0;
            (m, k)
        });
        if let Some((m, k)) = q {
            let (mw, mh) = ((m.w as f32 * k) as usize, (m.h as f32 * k) as usize);
            let (ox, oy) = (w.saturating_sub(mw) / 2, h.saturating_sub(mh) / 2);
            for y in 0..mh {
                for x in 0..mw {
                    let sx = ((x as f32 / k) as usize).min(m.w - 1);
                    let sy = ((y as f32 / k) as usize).min(m.h - 1);
                    if let Some(a) = alpha.get_mut((oy + y) * w + ox + x) {
                        *a = (*a).max(m.alpha[sy * m.w + sx]);
                    }
                }
            }
        }
        Mask {
            left: 0,
            top: 0,
            w,
            h,
            alpha,
        }
    }
}

fn curve_points(c: &OutlineCurve) -> Vec<&ab_glyph::Point> {
    match c {
        OutlineCurve::Line(a, b) => vec![a, b],
        OutlineCurve::Quad(a, b, c) => vec![a, b, c],
        OutlineCurve::Cubic(a, b, c, d) => vec![a, b, c, d],
    }
}

/// Rasteriser coverage (0.0 to 1.0 and beyond) as alpha, rounded to [`COVERAGE_LEVELS`].
fn coverage(v: f32) -> u8 {
    let top = f32::from(COVERAGE_LEVELS - 1);
    ((v.clamp(0.0, 1.0) * top).round() as u8) * (255 / (COVERAGE_LEVELS - 1))
}

/// `a` blended towards `b` by `t`/255.
fn mix(a: Rgb, b: Rgb, t: u8) -> Rgb {
    let t = u32::from(t);
    let f = |x: u8, y: u8| ((u32::from(x) * (255 - t) + u32::from(y) * t + 127) / 255) as u8;
    [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2])]
}

/// A picture as drawn: each pixel an index into the colours it was drawn with, so that its
/// PNG palette needs no search through its pixels (most of the encoding time when it was
/// found from RGB pixels: docs/PERFORMANCE.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// Distinct colours, in the order first drawn.
    colours: Vec<Rgb>,
    /// Whether a colour was drawn flat (a fill, a glyph's full coverage) and not only as a
    /// blend at a glyph's edge.
    flat: Vec<bool>,
    /// Row-major, an index into `colours` per pixel.
    pixels: Vec<u32>,
}

impl Picture {
    /// The picture as RGB.
    pub fn to_image(&self) -> Image {
        let mut rgb = Vec::with_capacity(self.pixels.len() * 3);
        for &p in &self.pixels {
            rgb.extend_from_slice(&self.colours[p as usize]);
        }
        Image {
            width: self.width,
            height: self.height,
            rgb,
        }
    }

    /// The picture as PNG, indexed whenever it can be, like [`Image::png`] (the same
    /// palette rules), but from the colours as drawn: exact at most 256 colours; else the
    /// flat colours kept and edge colours mapped to the nearest entry, chosen among the
    /// distinct colours (a few thousand) rather than the pixels (three million).
    pub fn png(&self) -> Result<Vec<u8>, RenderError> {
        if self.colours.len() <= 256 {
            let pixels: Vec<u8> = self.pixels.iter().map(|&p| p as u8).collect();
            return encode(
                self.width,
                self.height,
                Pixels::Indexed(&self.colours, &pixels),
            );
        }
        // Counted by runs: pixel by pixel, each count would wait on the one before (most
        // neighbours are the same colour), several times slower.
        let mut count = vec![0u32; self.colours.len()];
        let mut run = (self.pixels.first().copied().unwrap_or(0), 0u32);
        for &p in &self.pixels {
            if p == run.0 {
                run.1 += 1;
            } else {
                count[run.0 as usize] += run.1;
                run = (p, 1);
            }
        }
        if let Some(c) = count.get_mut(run.0 as usize) {
            *c += run.1;
        }
        let stats: Vec<quantise::Stat> = self
            .colours
            .iter()
            .zip(&self.flat)
            .zip(count)
            .map(|((&rgb, &flat), count)| quantise::Stat {
                rgb,
                count,
                flat: if flat { count } else { 0 },
            })
            .collect();
        match quantise::reduce(&stats) {
            Some((palette, index)) => {
                let pixels: Vec<u8> = self.pixels.iter().map(|&p| index[p as usize]).collect();
                encode(self.width, self.height, Pixels::Indexed(&palette, &pixels))
            }
            None => encode(self.width, self.height, Pixels::Rgb(&self.to_image().rgb)),
        }
    }
}

enum Pixels<'a> {
    Indexed(&'a [Rgb], &'a [u8]),
    Rgb(&'a [u8]),
}

/// PNG of one picture: no filter and zlib level 3 (why in [`Image::png`]).
fn encode(width: u32, height: u32, pixels: Pixels<'_>) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::with_capacity(width as usize * height as usize / 8);
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_deflate_compression(png::DeflateCompression::Level(3));
    enc.set_filter(png::Filter::NoFilter);
    let data = match pixels {
        Pixels::Indexed(colours, data) => {
            enc.set_color(png::ColorType::Indexed);
            enc.set_palette(colours.concat());
            data
        }
        Pixels::Rgb(data) => {
            enc.set_color(png::ColorType::Rgb);
            data
        }
    };
    let mut w = enc.write_header()?;
    w.write_image_data(data)?;
    w.finish()?;
    Ok(out)
}

/// Entries of [`Canvas::blend`]'s cache of blended colours.
const BLENDS: usize = 8;

/// The colours drawn so far, each with its index.
#[derive(Default)]
struct Palette {
    colours: Vec<Rgb>,
    flat: Vec<bool>,
    index: HashMap<Rgb, u32>,
}

impl Palette {
    /// The index of colour `c`, added if new.
    fn colour(&mut self, c: Rgb, flat: bool) -> u32 {
        let next = self.colours.len() as u32;
        let i = *self.index.entry(c).or_insert(next);
        if i == next {
            self.colours.push(c);
            self.flat.push(flat);
        } else if flat {
            self.flat[i as usize] = true;
        }
        i
    }
}

/// The canvas drawn on: pixels as indices into the colours used so far.
struct Canvas {
    w: usize,
    h: usize,
    pixels: Vec<u32>,
    palette: Palette,
}

impl Canvas {
    fn new(w: usize, h: usize, bg: Rgb) -> Canvas {
        let mut palette = Palette::default();
        let i = palette.colour(bg, true);
        Canvas {
            w,
            h,
            pixels: vec![i; w * h],
            palette,
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, c: Rgb) {
        let i = self.palette.colour(c, true);
        let (x1, y1) = ((x + w).min(self.w), (y + h).min(self.h));
        for row in y.min(y1)..y1 {
            self.pixels[row * self.w + x.min(x1)..row * self.w + x1].fill(i);
        }
    }

    /// Blends `fg` through `mask` placed at cell origin (`x`, `y`), clipped to the canvas.
    fn blend(&mut self, x: usize, y: usize, mask: &Mask, fg: Rgb) {
        let f = self.palette.colour(fg, true);
        let ox = x as i64 + i64::from(mask.left);
        let oy = y as i64 + i64::from(mask.top);
        // The part of the mask on the canvas, clipped once rather than per pixel.
        let clip = |o: i64, len: usize, size: usize| {
            let start = (-o).clamp(0, len as i64) as usize;
            let end = (size as i64 - o).clamp(start as i64, len as i64) as usize;
            (start, end)
        };
        let (mx0, mx1) = clip(ox, mask.w, self.w);
        let (my0, my1) = clip(oy, mask.h, self.h);
        // The last blends, by coverage: a glyph's edge pixels mostly lie on one colour (its
        // cell's background), so this spares nearly every look-up of a blended colour.
        let mut cache = [(u32::MAX, 0u8, 0u32); BLENDS];
        let width = self.w;
        let Canvas {
            pixels, palette, ..
        } = self;
        for my in my0..my1 {
            let alpha = &mask.alpha[my * mask.w + mx0..my * mask.w + mx1];
            let start = (oy + my as i64) as usize * width + (ox + mx0 as i64) as usize;
            let row = &mut pixels[start..start + alpha.len()];
            for (dst, &a) in row.iter_mut().zip(alpha) {
                if a == 0 {
                    continue;
                }
                if a == 255 {
                    *dst = f;
                    continue;
                }
                let slot = &mut cache[usize::from(a) % BLENDS];
                if slot.0 != *dst || slot.1 != a {
                    let m = mix(palette.colours[*dst as usize], fg, a);
                    *slot = (*dst, a, palette.colour(m, false));
                }
                *dst = slot.2;
            }
        }
    }

    fn into_picture(self) -> Picture {
        Picture {
            width: self.w as u32,
            height: self.h as u32,
            colours: self.palette.colours,
            flat: self.palette.flat,
            pixels: self.pixels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkie_host_proto::snapshot::{Cursor, Run};

    fn snap(rows: u16, cols: u16, text: &str) -> Snapshot {
        Snapshot {
            rows,
            cols,
            cursor: Cursor {
                row: 0,
                col: 0,
                visible: true,
            },
            styles: vec![Style::default()],
            lines: vec![vec![Run {
                style: 0,
                text: text.to_string(),
                cell_width: None,
            }]],
        }
    }

    #[test]
    fn a_renderer_can_move_to_a_blocking_thread() {
        fn send<T: Send + 'static>(_: &T) {}
        send(&Renderer::new(PHONE_FONT_PX).expect("renderer"));
    }

    #[test]
    fn bad_snapshots_are_errors_not_panics() {
        let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
        let opts = RenderOptions::default();
        assert!(matches!(
            r.render(&snap(2, 3, "abcd"), &opts),
            Err(RenderError::Snapshot(SnapshotError::LineTooLong { .. }))
        ));
        assert!(matches!(
            r.render(&snap(u16::MAX, u16::MAX, ""), &opts),
            Err(RenderError::TooLarge { .. })
        ));
        let mut s = snap(2, 3, "ab");
        s.cursor = Cursor {
            row: 9,
            col: 9,
            visible: true,
        };
        s.lines[0][0].text = "\u{7}\u{0}".into();
        let img = r
            .render(&s, &opts)
            .expect("an off-screen cursor and controls draw");
        assert_eq!(img.png().expect("png")[..4], *b"\x89PNG");
    }

    fn decode(png: &[u8]) -> (png::ColorType, Vec<u8>) {
        let mut dec = png::Decoder::new(std::io::Cursor::new(png));
        dec.set_transformations(png::Transformations::EXPAND);
        let mut reader = dec.read_info().expect("header");
        let stored = reader.info().color_type;
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("data");
        buf.truncate(info.buffer_size());
        (stored, buf)
    }

    /// A picture of `n` blocks of 4x4 pixels in a row, block `i` in `colour(i)`.
    fn blocks(n: u32, colour: impl Fn(u32) -> Rgb) -> Image {
        let mut rgb = Vec::new();
        for _ in 0..4 {
            for i in 0..n {
                for _ in 0..4 {
                    rgb.extend_from_slice(&colour(i));
                }
            }
        }
        Image {
            width: 4 * n,
            height: 4,
            rgb,
        }
    }

    #[test]
    fn png_is_indexed_and_exact_up_to_256_colours_rgb_when_flat_colours_do_not_fit() {
        let few = Image {
            width: 3,
            height: 2,
            rgb: [
                [1, 2, 3],
                [4, 5, 6],
                [1, 2, 3],
                [7, 8, 9],
                [7, 8, 9],
                [4, 5, 6],
            ]
            .concat(),
        };
        let (kind, rgb) = decode(&few.png().expect("png"));
        assert_eq!(kind, png::ColorType::Indexed);
        assert_eq!(rgb, few.rgb);
        // Colours 40 apart: none can stand in for another.
        let spaced = |i: u32| {
            [
                (i % 7 * 40) as u8,
                (i / 7 % 7 * 40) as u8,
                (i / 49 * 40) as u8,
            ]
        };
        for n in [256u32, 257] {
            let many = blocks(n, spaced);
            let (kind, rgb) = decode(&many.png().expect("png"));
            let want = if n == 256 {
                png::ColorType::Indexed
            } else {
                png::ColorType::Rgb
            };
            assert_eq!(kind, want, "{n} colours");
            assert_eq!(rgb, many.rgb, "{n} colours");
        }
    }

    #[test]
    fn a_screen_of_many_edge_colours_is_indexed_with_its_cells_colours_exact() {
        let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
        // 64 foregrounds on 4 backgrounds: a few hundred colours of glyph edges.
        let mut s = snap(8, 32, "");
        s.styles = (0..256u32)
            .map(|i| Style {
                fg: walkie_host_proto::snapshot::Color::Indexed(16 + (i % 64 * 3) as u8),
                bg: walkie_host_proto::snapshot::Color::Indexed(232 + (i / 64 * 4) as u8),
                ..Style::default()
            })
            .collect();
        s.lines = (0..8u16)
            .map(|row| {
                (0..32u16)
                    .map(|col| Run {
                        style: u32::from(row * 32 + col),
                        text: "W".into(),
                        cell_width: None,
                    })
                    .collect()
            })
            .collect();
        let picture = r.draw(&s, &RenderOptions::default()).expect("renders");
        let img = picture.to_image();
        // Both ways to a palette: from the colours as drawn, and searched in RGB pixels.
        for png in [picture.png().expect("png"), img.png().expect("png")] {
            many_edge_colours_indexed(&r, &img, &png);
        }
    }

    fn many_edge_colours_indexed(r: &Renderer, img: &Image, png: &[u8]) {
        let (kind, rgb) = decode(png);
        assert_eq!(kind, png::ColorType::Indexed);
        let l = r.layout(8, 32, &Title::default());
        let theme = Theme::tango_dark();
        let at = |rgb: &[u8], x: u32, y: u32| {
            let i = (y * img.width + x) as usize * 3;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        for row in 0..8u16 {
            for col in 0..32u16 {
                let (x, y) = l.cell_origin(row, col);
                let i = u32::from(row) * 32 + u32::from(col);
                let bg = theme.indexed(232 + (i / 64 * 4) as u8);
                // A background corner is exact.
                assert_eq!(at(&rgb, x, y), bg, "cell {row},{col}");
            }
        }
        // Everything else is near what was drawn.
        let worst = rgb
            .iter()
            .zip(&img.rgb)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(worst < 64, "{worst}");
    }

    #[test]
    fn a_drawn_picture_with_few_colours_is_its_png_exactly() {
        let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
        let mut s = snap(3, 20, "");
        s.styles = vec![
            Style::default(),
            Style {
                fg: walkie_host_proto::snapshot::Color::Indexed(1),
                bold: true,
                underline: true,
                ..Style::default()
            },
        ];
        s.lines = vec![vec![
            Run {
                style: 0,
                text: "plain ".into(),
                cell_width: None,
            },
            Run {
                style: 1,
                text: "red ┌─┐ 字".into(),
                cell_width: None,
            },
        ]];
        let picture = r.draw(&s, &RenderOptions::default()).expect("draws");
        let img = picture.to_image();
        assert_eq!(
            img,
            r.render(&s, &RenderOptions::default()).expect("renders")
        );
        let (kind, rgb) = decode(&picture.png().expect("png"));
        assert_eq!(kind, png::ColorType::Indexed);
        assert_eq!(rgb, img.rgb);
    }

    #[test]
    fn the_title_bar_names_session_host_and_time() {
        let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
        let with = RenderOptions {
            title: Title {
                session: "build".into(),
                host: "devbox".into(),
                time: "10:30".into(),
            },
            ..Default::default()
        };
        let img = r.render(&snap(2, 30, "x"), &with).expect("renders");
        let l = r.layout(2, 30, &with.title);
        assert!(l.title_height > 0);
        assert_eq!(img.height, l.height);
        let theme = Theme::tango_dark();
        let ink = |x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (0..l.title_height).map(move |y| (x, y)))
                .filter(|&(x, y)| img.pixel(x, y) != Some(theme.title_background))
                .count()
        };
        // "build" on the left (columns 0-4), "devbox  ·  10:30" on the right (14-29).
        let (left, _) = l.cell_origin(0, 0);
        let (mid, _) = l.cell_origin(0, 6);
        let (right, _) = l.cell_origin(0, 14);
        assert!(ink(left, mid) > 0);
        assert_eq!(ink(mid, right), 0);
        assert!(ink(right, l.width) > 0);
        let without = r.layout(2, 30, &Title::default());
        assert_eq!(without.title_height, 0);
        assert_eq!(without.height + l.title_height, l.height);
    }
}
