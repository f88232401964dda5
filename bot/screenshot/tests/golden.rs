//! Golden pictures: real agent screens and test charts rendered and compared with the PNGs
//! checked in under tests/golden/, plus exact pixel checks that do not depend on them.
//!
//! `WALKIE_GOLDEN_UPDATE=1 cargo test -p walkie-screenshot --test golden` rewrites the
//! golden PNGs (look at them before committing). A mismatch leaves the picture made under
//! `target/tmp/` to compare.

mod scenes;

use scenes::{parser, scene, Scene, SCENES};
use std::path::PathBuf;
use walkie_screenshot::{Image, RenderOptions, Renderer, Theme, Title, PHONE_FONT_PX};
use walkie_session_host::from_vt100;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn decode(bytes: &[u8]) -> Image {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    // Indexed pictures come out as RGB.
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgb: buf,
    }
}

/// Pixels whose channels differ by more than `tolerance`.
fn differing(a: &Image, b: &Image, tolerance: u8) -> usize {
    a.rgb
        .chunks_exact(3)
        .zip(b.rgb.chunks_exact(3))
        .filter(|(p, q)| {
            p.iter()
                .zip(q.iter())
                .any(|(x, y)| x.abs_diff(*y) > tolerance)
        })
        .count()
}

/// Most pixels a picture may differ from its golden one by. Rasterisation is deterministic;
/// this absorbs rounding differences elsewhere, and stays under the ink of one glyph
/// (a hundred pixels and more at phone size), so a changed cell fails.
const TOLERATED_PIXELS: usize = 64;

fn options(scene: &Scene) -> RenderOptions {
    RenderOptions {
        theme: Theme::tango_dark(),
        title: Title {
            session: scene.name.to_string(),
            host: "devbox".to_string(),
            time: "2026-12-01 10:30".to_string(),
        },
    }
}

#[test]
fn scenes_match_their_golden_pictures() {
    let update = std::env::var_os("WALKIE_GOLDEN_UPDATE").is_some();
    let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
    let mut failures = Vec::new();
    for s in SCENES {
        let snap = scene(s);
        let png = r.render_png(&snap, &options(s)).expect("renders");
        let path = golden_dir().join(format!("{}.png", s.name));
        if update {
            std::fs::create_dir_all(golden_dir()).expect("golden dir");
            std::fs::write(&path, &png).expect("write golden");
            continue;
        }
        let want = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; make it with WALKIE_GOLDEN_UPDATE=1",
                path.display()
            )
        });
        let (got, want) = (decode(&png), decode(&want));
        let diff = if (got.width, got.height) == (want.width, want.height) {
            differing(&got, &want, 24)
        } else {
            usize::MAX
        };
        if diff > TOLERATED_PIXELS {
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.png", s.name));
            std::fs::write(&out, &png).expect("write actual");
            failures.push(format!(
                "{}: {diff} pixels differ (got {}x{}, golden {}x{}); picture at {}",
                s.name,
                got.width,
                got.height,
                want.width,
                want.height,
                out.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Renders `bytes` on a `rows` x `cols` screen without a title bar.
fn render(rows: u16, cols: u16, bytes: &[u8]) -> (Image, walkie_screenshot::Layout) {
    let p = parser(rows, cols, bytes);
    let snap = from_vt100(p.screen());
    let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
    let opts = RenderOptions::default();
    let img = r.render(&snap, &opts).expect("renders");
    // The PNG says the same as the image.
    assert_eq!(decode(&r.render_png(&snap, &opts).expect("png")), img);
    (img, r.layout(rows, cols, &opts.title))
}

#[test]
fn sgr_colours_fill_cells_with_the_theme_and_palette_exactly() {
    let t = Theme::tango_dark();
    let (img, l) = render(
        2,
        10,
        b"\x1b[41m  \x1b[0m\x1b[48;5;196m  \x1b[48;5;244m  \x1b[48;2;1;2;3m  \x1b[0m\r\n\x1b[7m  \x1b[0m",
    );
    let centre = |row: u16, col: u16| {
        let (x, y) = l.cell_origin(row, col);
        img.pixel(x + l.cell_width / 2, y + l.cell_height / 2)
            .expect("inside")
    };
    assert_eq!(centre(0, 0), t.ansi[1], "SGR 41 is the theme's red");
    assert_eq!(centre(0, 1), t.ansi[1]);
    assert_eq!(centre(0, 2), [255, 0, 0], "xterm 196");
    assert_eq!(centre(0, 4), [128, 128, 128], "xterm grey 244");
    assert_eq!(centre(0, 6), [1, 2, 3], "truecolour");
    assert_eq!(
        centre(1, 0),
        t.foreground,
        "inverse blank shows the foreground"
    );
    assert_eq!(centre(0, 8), t.background);
    // Every pixel of the red cell is red, edge to edge: backgrounds are whole rectangles.
    let (x0, y0) = l.cell_origin(0, 0);
    for y in y0..y0 + l.cell_height {
        for x in x0..x0 + 2 * l.cell_width {
            assert_eq!(img.pixel(x, y), Some(t.ansi[1]), "({x},{y})");
        }
    }
}

#[test]
fn box_drawing_corners_touch_their_neighbours() {
    let fg = Theme::tango_dark().foreground;
    let (img, l) = render(3, 4, "┌──┐\r\n│  │\r\n└──┘".as_bytes());
    let lit = |x: u32, y: u32| img.pixel(x, y) == Some(fg);
    let (cw, ch) = (l.cell_width, l.cell_height);
    // Rows the top-left corner lights at its right edge, and the ─ next to it at its left:
    // the same, and not empty.
    let (x, y) = l.cell_origin(0, 0);
    let corner_right: Vec<u32> = (y..y + ch).filter(|&yy| lit(x + cw - 1, yy)).collect();
    let line_left: Vec<u32> = (y..y + ch).filter(|&yy| lit(x + cw, yy)).collect();
    assert!(!corner_right.is_empty(), "┌ reaches its right edge");
    assert_eq!(corner_right, line_left, "┌ and ─ meet without a gap");
    // Columns it lights at its bottom edge, and the │ below at its top.
    let corner_bottom: Vec<u32> = (x..x + cw).filter(|&xx| lit(xx, y + ch - 1)).collect();
    let bar_top: Vec<u32> = (x..x + cw).filter(|&xx| lit(xx, y + ch)).collect();
    assert!(!corner_bottom.is_empty(), "┌ reaches its bottom edge");
    assert_eq!(corner_bottom, bar_top, "┌ and │ meet without a gap");
    // The whole frame is one connected line: walk the top edge's band across all cells.
    let band = corner_right[0];
    let (x_end, _) = l.cell_origin(0, 3);
    for xx in x + cw / 2 + 1..x_end + cw / 2 {
        assert!(lit(xx, band), "top edge unbroken at x {xx}");
    }
    let (_, y_end) = l.cell_origin(2, 0);
    let col = corner_bottom[0];
    for yy in y + ch / 2 + 1..y_end + ch / 2 {
        assert!(lit(col, yy), "left edge unbroken at y {yy}");
    }
}

#[test]
fn wide_characters_span_two_cells() {
    let blue = Theme::tango_dark().ansi[4];
    let fg = Theme::tango_dark().foreground;
    let (img, l) = render(1, 6, "\x1b[44m中\x1b[0mxy".as_bytes());
    let (cw, ch) = (l.cell_width, l.cell_height);
    let (x0, y0) = l.cell_origin(0, 0);
    let ink = |x_from: u32, x_to: u32| {
        (x_from..x_to)
            .flat_map(|x| (y0..y0 + ch).map(move |y| (x, y)))
            .filter(|&(x, y)| img.pixel(x, y).is_some_and(|p| p != blue))
            .count()
    };
    // The background covers both columns, and the character (here the font's placeholder:
    // DejaVu has no CJK) is drawn across both.
    assert_eq!(img.pixel(x0 + 1, y0 + 1), Some(blue));
    assert_eq!(img.pixel(x0 + 2 * cw - 2, y0 + 1), Some(blue));
    assert!(ink(x0, x0 + cw) > 0 && ink(x0 + cw, x0 + 2 * cw) > 0);
    // Its left half mirrors its right: one box centred on the pair of cells.
    assert!(ink(x0, x0 + cw).abs_diff(ink(x0 + cw, x0 + 2 * cw)) < ink(x0, x0 + cw) / 4);
    // "x" is in the third cell, not the second.
    let (x2, _) = l.cell_origin(0, 2);
    assert!((x2..x2 + cw).any(|x| (y0..y0 + ch).any(|y| img.pixel(x, y) == Some(fg))));
}

#[test]
fn cursor_underline_and_bold_are_visible() {
    let t = Theme::tango_dark();
    // Cursor on the blank cell after "ab"; "c" underlined; "B" bold.
    let (img, l) = render(2, 8, b"\x1b[4mc\x1b[0m \x1b[1mB\x1b[0m B\r\nab");
    let (cw, ch) = (l.cell_width, l.cell_height);
    let (x, y) = l.cell_origin(1, 2);
    assert_eq!(
        img.pixel(x + cw / 2, y + ch / 2),
        Some(t.foreground),
        "block cursor"
    );
    let (x, y) = l.cell_origin(0, 0);
    let underline_rows = (y + ch / 2..y + ch)
        .filter(|&yy| (x..x + cw).all(|xx| img.pixel(xx, yy) == Some(t.foreground)))
        .count();
    assert!(underline_rows >= 1, "underline spans the cell");
    let count = |col: u16| {
        let (x, y) = l.cell_origin(0, col);
        (x..x + cw)
            .flat_map(|xx| (y..y + ch).map(move |yy| (xx, yy)))
            .filter(|&(xx, yy)| img.pixel(xx, yy) != Some(t.background))
            .count()
    };
    assert!(
        count(2) > count(4) * 11 / 10,
        "bold B has more ink than regular B"
    );
}

#[test]
fn fixture_png_sizes_stay_small() {
    let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
    for s in SCENES.iter().filter(|s| s.fixture.is_some()) {
        let png = r.render_png(&scene(s), &options(s)).expect("renders");
        // About 60 KB as indexed PNGs; an RGB fallback would be twice that.
        assert!(png.len() < 100_000, "{}: {} bytes", s.name, png.len());
    }
}

#[test]
fn snapshots_are_small_on_the_wire_and_survive_it() {
    let mut r = Renderer::new(PHONE_FONT_PX).expect("renderer");
    for s in SCENES {
        let snap = scene(s);
        let json = serde_json::to_vec(&snap).expect("serialises");
        eprintln!("{}: {} bytes of JSON", s.name, json.len());
        assert!(json.len() < 32_000, "{}: {} bytes", s.name, json.len());
        let back: walkie_screenshot::Snapshot = serde_json::from_slice(&json).expect("parses");
        assert_eq!(back, snap, "{}", s.name);
        assert_eq!(
            r.render(&back, &options(s)).expect("renders"),
            r.render(&snap, &options(s)).expect("renders"),
            "{}",
            s.name
        );
    }
}
