//! A picture's colours as a PNG palette: exact when it has at most 256 colours, else the
//! cells' own colours kept (within [`MAX_SOLID_ERROR`]) and the in-between colours of glyph
//! edges mapped to the nearest palette entry.
//!
//! Why: one byte a pixel instead of three is what brings a screen full of colour under
//! 300 KB (docs/PERFORMANCE.md). A terminal picture's colours are of two kinds: the cells'
//! foregrounds and backgrounds, drawn as flat areas (a background rectangle, a glyph's
//! stem), and the antialiased edges between them, a few pixels each. The flat ones are what
//! the eye compares (the diff's red line is the theme's red), so they are kept; an edge pixel
//! a little off colour does not show at phone size. Without pixels' provenance the flat ones
//! are found from the picture itself: a pixel equal to its left and upper neighbours is flat.
//! When the flat colours cannot be kept (a truecolour gradient: more than 256 colours even
//! after merging ones within [`MAX_SOLID_ERROR`]) the caller keeps the picture as RGB.
//!
//! The renderer's own pictures know each colour's provenance (drawn flat or as a blend) and
//! skip the search: [`reduce`] on their distinct colours. [`indexed`] is for RGB pictures.

use crate::theme::Rgb;

/// How far (per channel) a flat colour may move to share a palette entry with another:
/// invisible, and enough to merge a theme colour with its xterm-256 neighbour.
pub(crate) const MAX_SOLID_ERROR: u8 = 8;

/// Pixels equal to their left and upper neighbours that make a colour a cell's own colour
/// rather than an edge's: a glyph's stem has dozens, an antialiased edge almost none.
const FLAT_PIXELS: u32 = 8;

/// Past this many distinct colours the picture is not a terminal screen's (a photo-like
/// truecolour area): RGB, without spending time on a palette.
const MAX_DISTINCT: usize = 1 << 17;

/// Edge colours tried for a palette's spare entries (most frequent first).
const SPARE_TRIES: usize = 4096;

const EMPTY: u32 = u32::MAX;

/// Distinct colours with their pixel counts and flat-pixel counts (open addressing: this
/// runs once per change of colour along a row, a million times a picture).
struct Table {
    keys: Vec<u32>,
    count: Vec<u32>,
    flat: Vec<u32>,
    index: Vec<u8>,
    used: Vec<usize>,
}

impl Table {
    fn with_slots(slots: usize) -> Table {
        Table {
            keys: vec![EMPTY; slots],
            count: vec![0; slots],
            flat: vec![0; slots],
            index: vec![0; slots],
            used: Vec::new(),
        }
    }

    fn find(&self, key: u32) -> usize {
        let mask = self.keys.len() - 1;
        let mut slot = (key.wrapping_mul(2_654_435_761) as usize >> 7) & mask;
        while self.keys[slot] != key && self.keys[slot] != EMPTY {
            slot = (slot + 1) & mask;
        }
        slot
    }

    /// The slot of `key`, inserted if new (the table grows at half full).
    fn slot(&mut self, key: u32) -> usize {
        let slot = self.find(key);
        if self.keys[slot] != EMPTY {
            return slot;
        }
        if (self.used.len() + 1) * 2 > self.keys.len() {
            self.grow();
            return self.slot(key);
        }
        self.keys[slot] = key;
        self.used.push(slot);
        slot
    }

    fn grow(&mut self) {
        let mut bigger = Table::with_slots(self.keys.len() * 2);
        for &old in &self.used {
            let s = bigger.find(self.keys[old]);
            bigger.keys[s] = self.keys[old];
            bigger.count[s] = self.count[old];
            bigger.flat[s] = self.flat[old];
            bigger.index[s] = self.index[old];
            bigger.used.push(s);
        }
        *self = bigger;
    }
}

fn key(px: &[u8]) -> u32 {
    u32::from(px[0]) << 16 | u32::from(px[1]) << 8 | u32::from(px[2])
}

fn rgb(key: u32) -> Rgb {
    [(key >> 16) as u8, (key >> 8) as u8, key as u8]
}

fn chebyshev(a: Rgb, b: Rgb) -> u8 {
    a[0].abs_diff(b[0])
        .max(a[1].abs_diff(b[1]))
        .max(a[2].abs_diff(b[2]))
}

fn distance(a: Rgb, b: Rgb) -> u32 {
    let d = |i: usize| u32::from(a[i].abs_diff(b[i])).pow(2);
    d(0) + d(1) + d(2)
}

/// The palette and each pixel's index in it, for a picture `width` pixels wide; `None` when
/// the picture should stay RGB (its flat colours do not fit 256 entries).
pub(crate) fn indexed(rgb_pixels: &[u8], width: usize) -> Option<(Vec<Rgb>, Vec<u8>)> {
    if let Some(exact) = exact(rgb_pixels) {
        return Some(exact);
    }
    let width = width.max(1);
    let mut table = Table::with_slots(1 << 14);
    let mut above = vec![EMPTY; width];
    let mut row = vec![0u32; width];
    // The last colours seen, by a few bits of their hash: a cell's row alternates between
    // a handful (its background, foreground and edges), so most runs skip the table.
    let mut cache = [(EMPTY, 0usize); CACHE];
    let mut slots = table.keys.len();
    // Each run as (slot, length), so that the pixels are written from them without a
    // second look-up; a row's runs are dropped if the table grows (slots move).
    let mut runs: Vec<(u32, u32)> = Vec::with_capacity(rgb_pixels.len() / 16);
    let mut pixels = vec![0u8; rgb_pixels.len() / 3];
    let mut written = 0;
    let mut grew = false;
    for (y, line) in rgb_pixels.chunks_exact(width * 3).enumerate() {
        for (k, px) in row.iter_mut().zip(line.chunks_exact(3)) {
            *k = key(px);
        }
        let mut x = 0;
        while x < width {
            // One run of a colour along the row: counted at once; its pixels after the
            // first are flat where the pixel above is the same colour too.
            let k = row[x];
            let start = x;
            let mut flat = 0;
            x += 1;
            while x < width && row[x] == k {
                flat += u32::from(above[x] == k);
                x += 1;
            }
            let c = cache_line(k);
            let slot = if cache[c].0 == k {
                cache[c].1
            } else {
                let slot = table.slot(k);
                if table.keys.len() != slots {
                    // The table grew: its slots moved, so the cached ones are stale, and
                    // this row's runs are dropped at its end.
                    slots = table.keys.len();
                    cache = [(EMPTY, 0); CACHE];
                    grew = true;
                }
                cache[c] = (k, slot);
                slot
            };
            table.count[slot] += (x - start) as u32;
            table.flat[slot] += flat;
            runs.push((slot as u32, (x - start) as u32));
        }
        if table.used.len() > MAX_DISTINCT {
            return None;
        }
        if grew {
            // The rows so far are mapped by key at the end.
            grew = false;
            runs.clear();
            written = (y + 1) * width;
        }
        std::mem::swap(&mut above, &mut row);
    }
    let palette = reduced(&mut table)?;
    // The runs since the table last grew write their pixels; the rows before, by key.
    let mut at = written;
    for &(slot, len) in &runs {
        let end = at + len as usize;
        pixels[at..end].fill(table.index[slot as usize]);
        at = end;
    }
    remap(&mut pixels[..written], rgb_pixels, &table);
    Some((palette, pixels))
}

/// Gives pixels (whose runs were dropped when the table grew) their index by key.
fn remap(pixels: &mut [u8], rgb_pixels: &[u8], table: &Table) {
    let mut last = (EMPTY, 0u8);
    for (out, px) in pixels.iter_mut().zip(rgb_pixels.chunks_exact(3)) {
        let k = key(px);
        if k != last.0 {
            last = (k, table.index[table.find(k)]);
        }
        *out = last.1;
    }
}

/// Entries of the recent-colour caches of [`indexed`].
const CACHE: usize = 64;

fn cache_line(k: u32) -> usize {
    (k.wrapping_mul(0x9e37_79b9) >> 26) as usize
}

/// The picture's colours and each pixel's index among them, or `None` past 256 colours:
/// lossless, and the usual case (an agent's screen has a few dozen colours), so it goes
/// first and gives up at the 257th colour.
fn exact(rgb_pixels: &[u8]) -> Option<(Vec<Rgb>, Vec<u8>)> {
    const SLOTS: usize = 1024;
    let mut table = [EMPTY; SLOTS];
    let mut index = [0u8; SLOTS];
    let mut colours: Vec<Rgb> = Vec::new();
    let mut pixels = vec![0u8; rgb_pixels.len() / 3];
    let mut last = (EMPTY, 0u8);
    for (out, px) in pixels.iter_mut().zip(rgb_pixels.chunks_exact(3)) {
        let k = key(px);
        if k != last.0 {
            let mut slot = (k.wrapping_mul(2_654_435_761) >> 22) as usize % SLOTS;
            while table[slot] != k && table[slot] != EMPTY {
                slot = (slot + 1) % SLOTS;
            }
            if table[slot] == EMPTY {
                if colours.len() == 256 {
                    return None;
                }
                table[slot] = k;
                index[slot] = colours.len() as u8;
                colours.push(rgb(k));
            }
            last = (k, index[slot]);
        }
        *out = last.1;
    }
    Some((colours, pixels))
}

/// One distinct colour of a picture: its pixels, and how many of them are flat (a cell's
/// own colour rather than a glyph edge's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) rgb: Rgb,
    pub(crate) count: u32,
    pub(crate) flat: u32,
}

/// A palette for more than 256 colours, and each colour's index in it: flat colours first
/// (by flat pixels), each merged with a chosen one within [`MAX_SOLID_ERROR`], then the most
/// frequent edge colours in the spare entries; every colour's index set to its nearest
/// entry. `None` if the flat colours alone need more than 256 entries.
pub(crate) fn reduce(stats: &[Stat]) -> Option<(Vec<Rgb>, Vec<u8>)> {
    let mut order: Vec<usize> = (0..stats.len()).collect();
    order.sort_unstable_by_key(|&s| {
        (
            std::cmp::Reverse(stats[s].flat),
            std::cmp::Reverse(stats[s].count),
        )
    });
    let mut palette: Vec<Rgb> = Vec::with_capacity(256);
    let split = order.partition_point(|&s| stats[s].flat >= FLAT_PIXELS);
    for &s in &order[..split] {
        let c = stats[s].rgb;
        if palette.iter().any(|&p| chebyshev(p, c) <= MAX_SOLID_ERROR) {
            continue;
        }
        if palette.len() == 256 {
            return None;
        }
        palette.push(c);
    }
    let mut edges = order[split..].to_vec();
    edges.sort_unstable_by_key(|&s| std::cmp::Reverse(stats[s].count));
    for &s in edges.iter().take(SPARE_TRIES) {
        if palette.len() == 256 {
            break;
        }
        let c = stats[s].rgb;
        // An entry close to one already there adds little.
        if palette.iter().all(|&p| distance(p, c) > 3 * 6 * 6) {
            palette.push(c);
        }
    }
    let index = stats
        .iter()
        .map(|s| {
            let mut best = (u32::MAX, 0u8);
            for (i, &p) in palette.iter().enumerate() {
                let d = distance(p, s.rgb);
                if d < best.0 {
                    best = (d, i as u8);
                    if d == 0 {
                        break;
                    }
                }
            }
            best.1
        })
        .collect();
    Some((palette, index))
}

/// [`reduce`] for a picture's colour table: its entries' indices set.
fn reduced(table: &mut Table) -> Option<Vec<Rgb>> {
    let stats: Vec<Stat> = table
        .used
        .iter()
        .map(|&s| Stat {
            rgb: rgb(table.keys[s]),
            count: table.count[s],
            flat: table.flat[s],
        })
        .collect();
    let (palette, index) = reduce(&stats)?;
    for (&s, i) in table.used.iter().zip(index) {
        table.index[s] = i;
    }
    Some(palette)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture of `w` x `h` cells of 8x8 pixels, each a flat colour with a one-pixel
    /// edge of in-between colours on its left.
    fn cells(colours: &[Rgb], w: usize, h: usize) -> (Vec<u8>, usize) {
        let width = w * 8;
        let mut out = Vec::new();
        for y in 0..h * 8 {
            for x in 0..width {
                let c = colours[(y / 8 * w + x / 8) % colours.len()];
                if x % 8 == 0 {
                    // an edge colour, unique to this cell and row
                    out.extend_from_slice(&[c[0] / 2, c[1] / 2, (y % 8) as u8 * 3 + c[2] / 2]);
                } else {
                    out.extend_from_slice(&c);
                }
            }
        }
        (out, width)
    }

    fn expand(palette: &[Rgb], pixels: &[u8]) -> Vec<Rgb> {
        pixels.iter().map(|&i| palette[usize::from(i)]).collect()
    }

    #[test]
    fn flat_colours_stay_exact_and_edges_go_to_a_near_entry() {
        let colours: Vec<Rgb> = (0..200u32)
            .map(|i| {
                [
                    (i * 7 % 256) as u8,
                    (i * 13 % 256) as u8,
                    (i * 29 % 256) as u8,
                ]
            })
            .collect();
        let (rgb_pixels, width) = cells(&colours, 20, 10);
        let (palette, pixels) = indexed(&rgb_pixels, width).expect("fits");
        assert!(palette.len() <= 256);
        let got = expand(&palette, &pixels);
        for (i, (g, want)) in got.iter().zip(rgb_pixels.chunks_exact(3)).enumerate() {
            let want = [want[0], want[1], want[2]];
            if i % width % 8 != 0 {
                assert_eq!(*g, want, "flat pixel {i}");
            }
        }
    }

    #[test]
    fn too_many_flat_colours_stay_rgb() {
        let colours: Vec<Rgb> = (0..400u32)
            .map(|i| [(i % 20 * 12) as u8, (i / 20 * 12) as u8, 99])
            .collect();
        let (rgb_pixels, width) = cells(&colours, 20, 20);
        assert!(indexed(&rgb_pixels, width).is_none());
    }

    #[test]
    fn close_flat_colours_share_an_entry() {
        // 300 flat colours, but pairs 4 apart: 150 entries, each within the error.
        let colours: Vec<Rgb> = (0..300u32)
            .map(|i| [(i / 2 % 15 * 17) as u8, (i / 30 * 25 + i % 2 * 4) as u8, 50])
            .collect();
        let (rgb_pixels, width) = cells(&colours, 30, 10);
        let (palette, pixels) = indexed(&rgb_pixels, width).expect("fits");
        let got = expand(&palette, &pixels);
        for (i, (g, want)) in got.iter().zip(rgb_pixels.chunks_exact(3)).enumerate() {
            if i % width % 8 != 0 {
                assert!(chebyshev(*g, [want[0], want[1], want[2]]) <= MAX_SOLID_ERROR);
            }
        }
    }
}
