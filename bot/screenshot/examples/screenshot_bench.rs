//! Render time and PNG size of screenshots (docs/PERFORMANCE.md, "Screenshots").
//!
//! `cargo run --release -p walkie-screenshot --example screenshot_bench [FIXTURES_DIR]`
//!
//! Renders 120x40 and 200x60 screens full of colour, 100 times each, and prints the median
//! of drawing, encoding and both: a syntax-coloured diff (busy but realistic) and a screen
//! where every cell has its own colours (the worst case for PNG: no two neighbours alike).
//! Then the same for the shared agent captures' approval screens, and how other PNG
//! settings compare. Each line also gives the size of the snapshot as JSON (its wire form).

use std::num::NonZeroU16;
use std::time::{Duration, Instant};
use walkie_screenshot::{Image, RenderOptions, Renderer, Snapshot, Title, PHONE_FONT_PX};
use walkie_session_host::from_vt100;

const RUNS: usize = 100;

fn parser(rows: u16, cols: u16, bytes: &[u8]) -> Option<vt100::Parser> {
    let mut p = vt100::Parser::new(NonZeroU16::new(rows)?, NonZeroU16::new(cols)?, 0);
    p.process(bytes);
    Some(p)
}

/// Every cell a different printable character in its own 256-colour foreground and
/// background, a third of them bold.
fn colourful(rows: u16, cols: u16) -> Option<Snapshot> {
    let mut seed: u32 = 12345;
    let mut next = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        seed >> 16
    };
    let mut s = String::new();
    for row in 0..rows {
        for _ in 0..cols {
            let c = char::from_u32(0x21 + next() % 94).unwrap_or('x');
            let bold = if next() % 3 == 0 { "1;" } else { "" };
            s += &format!(
                "\x1b[0;{bold}38;5;{};48;5;{}m{c}",
                next() % 256,
                next() % 256
            );
        }
        if row + 1 < rows {
            s += "\r\n";
        }
    }
    Some(from_vt100(parser(rows, cols, s.as_bytes())?.screen()))
}

/// A busy but realistic screen: a syntax-coloured diff, every line coloured, added and
/// removed lines on green and red backgrounds, text to the right edge.
fn diff(rows: u16, cols: u16) -> Option<Snapshot> {
    let words = [
        "fn",
        "render",
        "(&mut",
        "self,",
        "snapshot:",
        "&Snapshot)",
        "->",
        "Result<Image>",
        "{",
        "let",
        "cells",
        "=",
        "snapshot.cells()?;",
        "// draw backgrounds first",
        "for",
        "(i,",
        "cell)",
        "in",
        "cells.iter().enumerate()",
        "}",
    ];
    let mut s = String::new();
    for row in 0..rows {
        let (bg, sign) = match row % 4 {
            0 => ("48;5;22", '+'),
            1 => ("48;5;52", '-'),
            _ => ("49", ' '),
        };
        let mut line = format!("\x1b[0;{bg}m{sign} ");
        let mut used = 2;
        let mut i = usize::from(row);
        while used < usize::from(cols) {
            let w = words[i % words.len()];
            let colour = 16 + (i * 37) % 216;
            let take = w.len().min(usize::from(cols) - used);
            line += &format!("\x1b[38;5;{colour}m{}", &w[..take]);
            used += take;
            if used < usize::from(cols) {
                line.push(' ');
                used += 1;
            }
            i += 1;
        }
        s += &line;
        if row + 1 < rows {
            s += "\r\n";
        }
    }
    Some(from_vt100(parser(rows, cols, s.as_bytes())?.screen()))
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn options() -> RenderOptions {
    RenderOptions {
        title: Title {
            session: "bench".into(),
            host: "devbox".into(),
            time: "2026-12-01 10:30".into(),
        },
        ..Default::default()
    }
}

/// This thread's CPU time. The machine is shared (load average often above 10 on 2 cores),
/// so wall time says more about the neighbours than about the renderer; both are printed.
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn bench(r: &mut Renderer, name: &str, snap: &Snapshot) -> Result<(), Box<dyn std::error::Error>> {
    let opts = options();
    let (mut draw, mut encode, mut total, mut wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    let mut dims = (0, 0);
    for _ in 0..RUNS {
        let (w0, c0) = (Instant::now(), cpu_now());
        let pic = r.draw(snap, &opts)?;
        let c1 = cpu_now();
        let png = pic.png()?;
        let (w2, c2) = (Instant::now(), cpu_now());
        draw.push(c1 - c0);
        encode.push(c2 - c1);
        total.push(c2 - c0);
        wall.push(w2 - w0);
        size = png.len();
        dims = (pic.width, pic.height);
    }
    // The reference, in the same run: the same picture as RGB pixels, its palette found by
    // a search through them (`Image::png`, what `render_png` did before drawing indices).
    let img = r.render(snap, &opts)?;
    let mut reference = Vec::new();
    let mut reference_size = 0;
    for _ in 0..RUNS / 4 {
        let c0 = cpu_now();
        reference_size = img.png()?.len();
        reference.push(cpu_now() - c0);
    }
    let (encode, reference) = (median(encode), median(reference));
    println!(
        "{name:28} {:>4}x{:<4} CPU: draw {:5.1} ms  encode {:5.1} ms  total {:5.1} ms  (wall {:5.1} ms)  PNG {:>8} bytes  snapshot JSON {:>7} bytes  | RGB-search encode {:5.1} ms ({:.2}x), {:>8} bytes",
        dims.0,
        dims.1,
        median(draw),
        encode,
        median(total),
        median(wall),
        size,
        serde_json::to_vec(snap)?.len(),
        reference,
        encode / reference,
        reference_size,
    );
    Ok(())
}

/// PNG size and median encoding CPU time of `img` as the crate encodes it, then as RGB
/// with other settings.
fn settings(img: &Image) -> Result<(), Box<dyn std::error::Error>> {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..10 {
        let t = cpu_now();
        size = img.png()?.len();
        times.push(cpu_now() - t);
    }
    println!(
        "    {:24} {size:>8} bytes  {:6.1} ms",
        "chosen (Image::png)",
        median(times)
    );
    let cases: [(&str, png::DeflateCompression, png::Filter); 5] = [
        (
            "RGB fdeflate, Up",
            png::DeflateCompression::FdeflateUltraFast,
            png::Filter::Up,
        ),
        (
            "RGB fdeflate, Adaptive",
            png::DeflateCompression::FdeflateUltraFast,
            png::Filter::Adaptive,
        ),
        (
            "RGB zlib 1, Up",
            png::DeflateCompression::Level(1),
            png::Filter::Up,
        ),
        (
            "RGB zlib 2, Up",
            png::DeflateCompression::Level(2),
            png::Filter::Up,
        ),
        (
            "RGB zlib 6, Adaptive",
            png::DeflateCompression::Level(6),
            png::Filter::Adaptive,
        ),
    ];
    for (name, c, f) in cases {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..10 {
            let t = cpu_now();
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, img.width, img.height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_deflate_compression(c);
            enc.set_filter(f);
            let mut w = enc.write_header()?;
            w.write_image_data(&img.rgb)?;
            w.finish()?;
            times.push(cpu_now() - t);
            size = out.len();
        }
        println!("    {name:24} {size:>8} bytes  {:6.1} ms", median(times));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut r = Renderer::new(PHONE_FONT_PX)?;
    for (rows, cols) in [(40, 120), (60, 200)] {
        let snap = diff(rows, cols).ok_or("bad size")?;
        bench(&mut r, &format!("{cols}x{rows} coloured diff"), &snap)?;
        if rows == 40 {
            settings(&r.render(&snap, &options())?)?;
        }
        let snap = colourful(rows, cols).ok_or("bad size")?;
        bench(&mut r, &format!("{cols}x{rows} every cell coloured"), &snap)?;
        if rows == 40 {
            settings(&r.render(&snap, &options())?)?;
        }
    }
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/agents"
        )
        .into()
    });
    for agent in ["claude", "codex", "copilot"] {
        // The .ansi screens are the approval screens with colours, as the emulator draws them.
        let Ok(ansi) = std::fs::read(format!("{dir}/{agent}-approval.ansi")) else {
            println!("{agent}: no fixture in {dir}");
            continue;
        };
        let p = parser(40, 120, &ansi).ok_or("bad size")?;
        let snap = from_vt100(p.screen());
        bench(&mut r, &format!("{agent} approval 120x40"), &snap)?;
        settings(&r.render(&snap, &options())?)?;
    }
    Ok(())
}
