//! Characters drawn as geometry instead of font glyphs: box drawing (U+2500-U+257F), block
//! elements (U+2580-U+259F), braille (U+2800-U+28FF) and a few symbols the agents use that
//! DejaVu Sans Mono lacks. Font glyphs for lines stop short of the cell edges or overshoot
//! them; drawn here, a line covers exactly the same pixel band in every cell, so neighbours
//! join without gaps.
//!
//! Each character becomes an alpha mask of one cell box (`w` x `h`), cached by the renderer
//! like a glyph. `t` is the light line thickness in pixels.

/// The weight of one arm of a box-drawing character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    None,
    Light,
    Heavy,
    Double,
}

/// Arms of box-drawing characters U+2500-U+257F as (up, right, down, left), digit 0 none,
/// 1 light, 2 heavy, 3 double; `None` for dashes, arcs and diagonals, drawn otherwise.
fn arms(c: char) -> Option<[Line; 4]> {
    const TABLE: [&str; 128] = [
        "0101", "0202", "1010", "2020", "", "", "", "", "", "", "", "", // 2500-250B
        "0110", "0210", "0120", "0220", "0011", "0012", "0021", "0022", // 250C-2513
        "1100", "1200", "2100", "2200", "1001", "1002", "2001", "2002", // 2514-251B
        "1110", "1210", "2110", "1120", "2120", "2210", "1220", "2220", // 251C-2523
        "1011", "1012", "2011", "1021", "2021", "2012", "1022", "2022", // 2524-252B
        "0111", "0112", "0211", "0212", "0121", "0122", "0221", "0222", // 252C-2533
        "1101", "1102", "1201", "1202", "2101", "2102", "2201", "2202", // 2534-253B
        "1111", "1112", "1211", "1212", "2111", "1121", "2121", "2112", // 253C-2543
        "2211", "1122", "1221", "2212", "1222", "2122", "2221", "2222", // 2544-254B
        "", "", "", "", // 254C-254F dashes
        "0303", "3030", "0310", "0130", "0330", "0013", "0031", "0033", // 2550-2557
        "1300", "3100", "3300", "1003", "3001", "3003", "1310", "3130", // 2558-255F
        "3330", "1013", "3031", "3033", "0313", "0131", "0333", "1303", // 2560-2567
        "3101", "3303", "1313", "3131", "3333", // 2568-256C
        "", "", "", "", "", "", "", // 256D-2573 arcs and diagonals
        "0001", "1000", "0100", "0010", "0002", "2000", "0200", "0020", // 2574-257B
        "0201", "1020", "0102", "2010", // 257C-257F
    ];
    let i = (c as u32).checked_sub(0x2500)?;
    let code = TABLE.get(usize::try_from(i).ok()?)?;
    let mut out = [Line::None; 4];
    for (slot, d) in out.iter_mut().zip(code.bytes()) {
        *slot = match d {
            b'1' => Line::Light,
            b'2' => Line::Heavy,
            b'3' => Line::Double,
            _ => Line::None,
        };
    }
    (code.len() == 4).then_some(out)
}

/// A cell-sized alpha mask.
struct Mask {
    w: usize,
    h: usize,
    a: Vec<u8>,
}

impl Mask {
    fn new(w: usize, h: usize) -> Mask {
        Mask {
            w,
            h,
            a: vec![0; w * h],
        }
    }

    /// Fills `[x0, x1) x [y0, y1)`, clipped to the box.
    fn rect(&mut self, x0: usize, x1: usize, y0: usize, y1: usize, alpha: u8) {
        let (x1, y1) = (x1.min(self.w), y1.min(self.h));
        for y in y0.min(y1)..y1 {
            self.a[y * self.w + x0.min(x1)..y * self.w + x1].fill(alpha);
        }
    }

    /// `rect` with the axes swapped: "along" is y, "across" is x.
    fn rect_t(&mut self, y0: usize, y1: usize, x0: usize, x1: usize) {
        self.rect(x0, x1, y0, y1, 255);
    }

    /// Antialiased shape: coverage of 4x4 samples per pixel that `inside` accepts, added
    /// to what is there.
    fn shape(&mut self, inside: impl Fn(f32, f32) -> bool) {
        const N: usize = 4;
        for y in 0..self.h {
            for x in 0..self.w {
                let mut hits = 0u32;
                for sy in 0..N {
                    for sx in 0..N {
                        let px = x as f32 + (sx as f32 + 0.5) / N as f32;
                        let py = y as f32 + (sy as f32 + 0.5) / N as f32;
                        hits += u32::from(inside(px, py));
                    }
                }
                let add = (hits * 255 / (N * N) as u32) as u8;
                let v = &mut self.a[y * self.w + x];
                *v = v.saturating_add(add);
            }
        }
    }
}

/// Start of a band of `th` pixels centred in `len`: every cell puts a line of a given
/// weight on the same pixels, which is what makes neighbours join.
fn band(len: usize, th: usize) -> usize {
    len.saturating_sub(th) / 2
}

fn thickness(l: Line, t: usize) -> usize {
    match l {
        Line::None => 0,
        Line::Light => t,
        Line::Heavy => 2 * t,
        Line::Double => t,
    }
}

/// Draws the two arms along one axis (`first` towards 0, `second` towards `along`) given
/// the arms across it (`p_first`, `p_second`); `fill(along0, along1, across0, across1)`.
/// Called once for the horizontal arms and once, transposed, for the vertical ones.
#[allow(clippy::too_many_arguments)]
fn axis(
    first: Line,
    second: Line,
    p_first: Line,
    p_second: Line,
    along: usize,
    across: usize,
    t: usize,
    fill: &mut dyn FnMut(usize, usize, usize, usize),
) {
    let perp_double = p_first == Line::Double || p_second == Line::Double;
    // The double perpendicular's two lines: [a, a+t) and [a+2t, a+3t).
    let a = band(along, 3 * t);
    let near = (a + t, a + 2 * t);
    let far = (a + 3 * t, a);
    let perp_th = thickness(p_first, t).max(thickness(p_second, t)).max(t);
    let lo = band(along, perp_th);
    let centre = (lo + perp_th, lo);
    // (end of the first arm, start of the second) for a line next to perpendicular `p`.
    let reach = |p: Line| -> (usize, usize) {
        if !perp_double {
            centre
        } else if p == Line::Double {
            near
        } else {
            far
        }
    };
    for (arm, is_first) in [(first, true), (second, false)] {
        let mut line = |across0: usize, th: usize, (end, start): (usize, usize)| {
            if is_first {
                fill(0, end, across0, across0 + th);
            } else {
                fill(start, along, across0, across0 + th);
            }
        };
        match arm {
            Line::None => {}
            Line::Light | Line::Heavy => {
                let th = thickness(arm, t);
                let through = p_first == Line::Double && p_second == Line::Double;
                let r = if !perp_double {
                    centre
                } else if through {
                    near
                } else {
                    far
                };
                line(band(across, th), th, r);
            }
            Line::Double => {
                let b = band(across, 3 * t);
                line(b, t, reach(p_first));
                line(b + 2 * t, t, reach(p_second));
            }
        }
    }
}

fn lines(m: &mut Mask, [up, right, down, left]: [Line; 4], t: usize) {
    let (w, h) = (m.w, m.h);
    axis(left, right, up, down, w, h, t, &mut |x0, x1, y0, y1| {
        m.rect(x0, x1, y0, y1, 255)
    });
    axis(up, down, left, right, h, w, t, &mut |y0, y1, x0, x1| {
        m.rect_t(y0, y1, x0, x1)
    });
}

/// Dashed line of `n` dashes per cell, horizontal or vertical.
fn dashes(m: &mut Mask, n: usize, th: usize, vertical: bool) {
    let len = if vertical { m.h } else { m.w };
    let across = band(if vertical { m.w } else { m.h }, th);
    let gap = (len / n / 3).max(1);
    for i in 0..n {
        let s = i * len / n + gap / 2;
        let e = ((i + 1) * len / n).saturating_sub(gap - gap / 2);
        if vertical {
            m.rect(across, across + th, s, e, 255);
        } else {
            m.rect(s, e, across, across + th, 255);
        }
    }
}

/// Rounded corner: a quarter circle joining the light lines towards `dx` (+1 right, -1 left)
/// and `dy` (+1 down, -1 up), with straight lines on to the edges.
fn arc(m: &mut Mask, dx: i32, dy: i32, t: usize) {
    let (w, h) = (m.w, m.h);
    let (bx, by) = (band(w, t), band(h, t));
    let xc = bx as f32 + t as f32 / 2.0;
    let yc = by as f32 + t as f32 / 2.0;
    let rx = if dx > 0 { w as f32 - xc } else { xc };
    let ry = if dy > 0 { h as f32 - yc } else { yc };
    let r = rx.min(ry);
    let (cx, cy) = (xc + dx as f32 * r, yc + dy as f32 * r);
    let half = t as f32 / 2.0;
    m.shape(|x, y| {
        let in_quadrant = (x - cx) * dx as f32 <= 0.0 && (y - cy) * dy as f32 <= 0.0;
        let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
        in_quadrant && (d - r).abs() <= half
    });
    // The straight parts from the arc's ends to the edges.
    let (cxi, cyi) = (cx.round() as usize, cy.round() as usize);
    if dx > 0 {
        m.rect(cxi, w, by, by + t, 255);
    } else {
        m.rect(0, cxi, by, by + t, 255);
    }
    if dy > 0 {
        m.rect(bx, bx + t, cyi, h, 255);
    } else {
        m.rect(bx, bx + t, 0, cyi, 255);
    }
}

/// Diagonal from corner to corner; `rising` is ╱ (lower left to upper right).
fn diagonal(m: &mut Mask, rising: bool, t: usize) {
    let (w, h) = (m.w as f32, m.h as f32);
    let len = (w * w + h * h).sqrt();
    let half = t as f32 / 2.0 + 0.25;
    m.shape(|x, y| {
        let d = if rising {
            (h * x + w * y - w * h).abs() / len
        } else {
            (h * x - w * y).abs() / len
        };
        d <= half
    });
}

/// Block elements U+2580-U+259F.
fn block(m: &mut Mask, c: char) {
    let (w, h) = (m.w, m.h);
    let (mx, my) = (w / 2, h / 2);
    let eighth_h = |k: usize| (h * k + 4) / 8;
    let eighth_w = |k: usize| (w * k + 4) / 8;
    // Quadrants: upper left, upper right, lower left, lower right.
    let mut quads = |ul: bool, ur: bool, ll: bool, lr: bool| {
        for (on, x0, x1, y0, y1) in [
            (ul, 0, mx, 0, my),
            (ur, mx, w, 0, my),
            (ll, 0, mx, my, h),
            (lr, mx, w, my, h),
        ] {
            if on {
                m.rect(x0, x1, y0, y1, 255);
            }
        }
    };
    match c {
        '\u{2580}' => quads(true, true, false, false),
        '\u{2581}'..='\u{2588}' => {
            let k = c as usize - 0x2580;
            m.rect(0, w, h - eighth_h(k), h, 255);
        }
        '\u{2589}'..='\u{258f}' => {
            let k = 0x2590 - c as usize;
            m.rect(0, eighth_w(k), 0, h, 255);
        }
        '\u{2590}' => quads(false, true, false, true),
        '\u{2591}' => m.rect(0, w, 0, h, 64),
        '\u{2592}' => m.rect(0, w, 0, h, 128),
        '\u{2593}' => m.rect(0, w, 0, h, 192),
        '\u{2594}' => m.rect(0, w, 0, eighth_h(1), 255),
        '\u{2595}' => m.rect(w - eighth_w(1), w, 0, h, 255),
        '\u{2596}' => quads(false, false, true, false),
        '\u{2597}' => quads(false, false, false, true),
        '\u{2598}' => quads(true, false, false, false),
        '\u{2599}' => quads(true, false, true, true),
        '\u{259a}' => quads(true, false, false, true),
        '\u{259b}' => quads(true, true, true, false),
        '\u{259c}' => quads(true, true, false, true),
        '\u{259d}' => quads(false, true, false, false),
        '\u{259e}' => quads(false, true, true, false),
        _ => quads(false, true, true, true), // U+259F
    }
}

/// Braille patterns: eight dots in two columns, bit k of the offset is dot k+1.
fn braille(m: &mut Mask, bits: u32) {
    let (w, h) = (m.w as f32, m.h as f32);
    // Dots 1-3 and 7 are the left column, 4-6 and 8 the right; rows top to bottom.
    const POS: [(usize, usize); 8] = [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (0, 3),
        (1, 3),
    ];
    let r = (w / 4.0).min(h / 8.0) * 0.8;
    let dots: Vec<(f32, f32)> = POS
        .iter()
        .enumerate()
        .filter(|(k, _)| bits & (1 << k) != 0)
        .map(|(_, &(col, row))| {
            (
                w * (1.0 + 2.0 * col as f32) / 4.0,
                h * (1.0 + 2.0 * row as f32) / 8.0,
            )
        })
        .collect();
    m.shape(|x, y| {
        dots.iter()
            .any(|(cx, cy)| (x - cx).powi(2) + (y - cy).powi(2) <= r * r)
    });
}

/// A few technical symbols (U+23xx) Claude Code draws that the font lacks.
fn symbol(m: &mut Mask, c: char, t: usize) -> bool {
    let (w, h) = (m.w as f32, m.h as f32);
    // The middle of the lower-case letters: where a text bullet sits.
    let (cx, cy) = (w / 2.0, h * 0.45);
    let size = w * 0.7;
    match c {
        // ⎯ horizontal line extension: joins like ─.
        '\u{23af}' => lines(m, arms('\u{2500}').unwrap_or([Line::None; 4]), t),
        // ⎿ the result connector under a tool call: a corner from the top to the bottom right.
        '\u{23bf}' => {
            let bx = band(m.w, t);
            let y = (h * 0.62) as usize;
            m.rect(bx, bx + t, 0, y + t, 255);
            m.rect(bx, m.w, y, y + t, 255);
        }
        // ⏴⏵⏶⏷ triangles.
        '\u{23f4}'..='\u{23f7}' => {
            let s = size / 2.0;
            let tri = match c {
                '\u{23f4}' => [(cx + s, cy - s), (cx + s, cy + s), (cx - s, cy)],
                '\u{23f5}' => [(cx - s, cy - s), (cx - s, cy + s), (cx + s, cy)],
                '\u{23f6}' => [(cx - s, cy + s), (cx + s, cy + s), (cx, cy - s)],
                _ => [(cx - s, cy - s), (cx + s, cy - s), (cx, cy + s)],
            };
            m.shape(|x, y| inside_triangle(tri, x, y));
        }
        // ⏸ pause, ⏹ stop, ⏺ record.
        '\u{23f8}' => {
            let s = size / 2.0;
            let bar = size / 3.0;
            m.shape(|x, y| {
                (y - cy).abs() <= s
                    && ((x - (cx - s)) >= 0.0 && x - (cx - s) <= bar
                        || (x - (cx + s - bar)) >= 0.0 && x - (cx + s - bar) <= bar)
            });
        }
        '\u{23f9}' => {
            let s = size / 2.0;
            m.shape(|x, y| (x - cx).abs() <= s && (y - cy).abs() <= s);
        }
        '\u{23fa}' => {
            let r = size / 2.0;
            m.shape(|x, y| (x - cx).powi(2) + (y - cy).powi(2) <= r * r);
        }
        _ => return false,
    }
    true
}

fn inside_triangle(p: [(f32, f32); 3], x: f32, y: f32) -> bool {
    let side =
        |(ax, ay): (f32, f32), (bx, by): (f32, f32)| (bx - ax) * (y - ay) - (by - ay) * (x - ax);
    let (d1, d2, d3) = (side(p[0], p[1]), side(p[1], p[2]), side(p[2], p[0]));
    let neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(neg && pos)
}

/// The alpha mask (`w * h`, row-major) of a character drawn as geometry, or `None` when the
/// character is left to the font.
pub(crate) fn mask(c: char, w: usize, h: usize, t: usize) -> Option<Vec<u8>> {
    let mut m = Mask::new(w, h);
    let t = t.max(1);
    match c {
        '\u{2500}'..='\u{257f}' => {
            if let Some(a) = arms(c) {
                lines(&mut m, a, t);
            } else {
                match c {
                    '\u{2504}' => dashes(&mut m, 3, t, false),
                    '\u{2505}' => dashes(&mut m, 3, 2 * t, false),
                    '\u{2506}' => dashes(&mut m, 3, t, true),
                    '\u{2507}' => dashes(&mut m, 3, 2 * t, true),
                    '\u{2508}' => dashes(&mut m, 4, t, false),
                    '\u{2509}' => dashes(&mut m, 4, 2 * t, false),
                    '\u{250a}' => dashes(&mut m, 4, t, true),
                    '\u{250b}' => dashes(&mut m, 4, 2 * t, true),
                    '\u{254c}' => dashes(&mut m, 2, t, false),
                    '\u{254d}' => dashes(&mut m, 2, 2 * t, false),
                    '\u{254e}' => dashes(&mut m, 2, t, true),
                    '\u{254f}' => dashes(&mut m, 2, 2 * t, true),
                    '\u{256d}' => arc(&mut m, 1, 1, t),
                    '\u{256e}' => arc(&mut m, -1, 1, t),
                    '\u{256f}' => arc(&mut m, -1, -1, t),
                    '\u{2570}' => arc(&mut m, 1, -1, t),
                    '\u{2571}' => diagonal(&mut m, true, t),
                    '\u{2572}' => diagonal(&mut m, false, t),
                    _ => {
                        diagonal(&mut m, true, t);
                        diagonal(&mut m, false, t);
                    }
                }
            }
        }
        '\u{2580}'..='\u{259f}' => block(&mut m, c),
        '\u{2800}'..='\u{28ff}' => braille(&mut m, c as u32 - 0x2800),
        _ => {
            if !symbol(&mut m, c, t) {
                return None;
            }
        }
    }
    Some(m.a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 17;
    const H: usize = 33;
    const T: usize = 2;

    fn m(c: char) -> Vec<u8> {
        mask(c, W, H, T).expect("geometric")
    }

    /// Columns lit on the given row, and rows lit on the given column.
    fn row(a: &[u8], y: usize) -> Vec<usize> {
        (0..W).filter(|&x| a[y * W + x] == 255).collect()
    }
    fn col(a: &[u8], x: usize) -> Vec<usize> {
        (0..H).filter(|&y| a[y * W + x] == 255).collect()
    }

    #[test]
    fn every_box_and_block_character_draws_something() {
        for c in ('\u{2500}'..='\u{259f}').chain(['\u{23bf}', '\u{23fa}', '\u{2801}']) {
            let a = mask(c, W, H, T).unwrap_or_else(|| panic!("{c} is geometric"));
            assert!(a.iter().any(|&v| v > 0), "{c} draws nothing");
        }
        assert!(mask('a', W, H, T).is_none());
        assert!(mask('\u{2800}', W, H, T).is_some_and(|a| a.iter().all(|&v| v == 0)));
    }

    #[test]
    fn lines_reach_the_edges_on_the_same_band() {
        let horizontal = m('─');
        let rows: Vec<usize> = (0..H).filter(|&y| horizontal[y * W] == 255).collect();
        assert_eq!(rows.len(), T);
        for c in ['┌', '└', '├', '┼', '┬', '┴', '╶', '╭', '╰'] {
            let a = m(c);
            let right: Vec<usize> = (0..H).filter(|&y| a[y * W + W - 1] == 255).collect();
            assert_eq!(right, rows, "{c} meets ─ on its right");
        }
        let vertical = m('│');
        let cols = row(&vertical, 0);
        for c in ['┌', '┐', '├', '┤', '┼', '┬', '╷', '╭', '╮'] {
            assert_eq!(row(&m(c), H - 1), cols, "{c} meets │ below");
        }
        for c in ['└', '┘', '├', '┤', '┼', '┴', '╵', '╯', '╰'] {
            assert_eq!(row(&m(c), 0), cols, "{c} meets │ above");
        }
        // Heavy lines are thicker and still centred on the light band.
        let heavy = row(&m('┃'), 0);
        assert_eq!(heavy.len(), 2 * T);
        assert!(heavy.contains(&cols[0]));
        // Double lines are two lines.
        assert_eq!(row(&m('║'), 0).len(), 2 * T);
        assert_eq!(col(&m('═'), 0).len(), 2 * T);
    }

    #[test]
    fn corners_close() {
        // ┌: the horizontal and vertical arms share the corner pixel block.
        let a = m('┌');
        let y = col(&a, W - 1)[0];
        let x = row(&a, H - 1)[0];
        assert_eq!(a[y * W + x], 255);
        // ╔: outer and inner corners both closed, the space between them empty.
        let d = m('╔');
        let ys = col(&d, W - 1);
        let xs = row(&d, H - 1);
        assert_eq!(d[ys[0] * W + xs[0]], 255, "outer corner");
        assert_eq!(d[ys[T] * W + xs[T]], 255, "inner corner");
        assert_eq!(d[(ys[T] + T) * W + xs[T] + T], 0, "inside the inner corner");
    }

    #[test]
    fn blocks_fill_their_fractions() {
        let full = m('█');
        assert!(full.iter().all(|&v| v == 255));
        let lower = m('▄');
        assert_eq!(col(&lower, 0), (H / 2..H).collect::<Vec<_>>());
        let upper = m('▀');
        assert_eq!(col(&upper, 0), (0..H / 2).collect::<Vec<_>>());
        assert!(m('▒').iter().all(|&v| v == 128));
    }
}
