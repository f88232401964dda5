//! Screens the tests render: real agent approval prompts replayed from their PTY captures,
//! and charts of colours, box drawing and wide characters.

use std::num::NonZeroU16;
use std::path::PathBuf;
use walkie_screenshot::Snapshot;
use walkie_session_host::from_vt100;

pub struct Scene {
    pub name: &'static str,
    pub rows: u16,
    pub cols: u16,
    /// A capture in the shared fixtures, replayed up to the screen of the text fixture.
    pub fixture: Option<(&'static str, &'static str)>,
}

pub const SCENES: &[Scene] = &[
    Scene {
        name: "claude-approval",
        rows: 40,
        cols: 120,
        fixture: Some(("claude-approve-session.raw", "claude-approval.txt")),
    },
    Scene {
        name: "codex-approval",
        rows: 40,
        cols: 120,
        fixture: Some(("codex-approve-session.raw", "codex-approval.txt")),
    },
    Scene {
        name: "copilot-approval",
        rows: 40,
        cols: 120,
        fixture: Some(("copilot-approve-session.raw", "copilot-approval.txt")),
    },
    Scene {
        name: "colours-256",
        rows: 25,
        cols: 80,
        fixture: None,
    },
    Scene {
        name: "box-drawing",
        rows: 24,
        cols: 80,
        fixture: None,
    },
    Scene {
        name: "wide-chars",
        rows: 10,
        cols: 60,
        fixture: None,
    },
];

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/agents")
}

pub fn parser(rows: u16, cols: u16, bytes: &[u8]) -> vt100::Parser {
    let nz = |n: u16| NonZeroU16::new(n).expect("non-zero size");
    let mut p = vt100::Parser::new(nz(rows), nz(cols), 0);
    p.process(bytes);
    p
}

/// Screen lines as the text fixtures have them: trailing blanks trimmed, and the captures'
/// temporary checkout (`/tmp/agent-repo.XXXXXX`) renamed as in the text fixtures.
fn lines(s: &str) -> Vec<String> {
    s.trim_end()
        .lines()
        .map(|l| match l.find("/tmp/agent-repo.") {
            Some(i) => {
                let end = l[i..].find(' ').map_or(l.len(), |e| i + e);
                format!("{}/srv/demo/agent-repo-1{}", &l[..i], &l[end..])
            }
            None => l.to_string(),
        })
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// Replays `raw` until the screen shows `want`'s text: the capture is fed up to each escape
/// sequence in turn, so the screen is looked at between every two drawing commands.
fn replay_to(rows: u16, cols: u16, raw: &[u8], want: &str) -> vt100::Parser {
    let want = lines(want);
    let mut p = parser(rows, cols, b"");
    let mut start = 0;
    for i in 1..=raw.len() {
        if i == raw.len() || raw[i] == 0x1b {
            p.process(&raw[start..i]);
            start = i;
            if lines(&p.screen().contents()) == want {
                return p;
            }
        }
    }
    panic!("the capture never shows the screen of its text fixture");
}

pub fn scene(s: &Scene) -> Snapshot {
    let p = match s.fixture {
        Some((raw, txt)) => {
            let dir = fixtures_dir();
            let raw = std::fs::read(dir.join(raw)).expect("raw capture");
            let txt = std::fs::read_to_string(dir.join(txt)).expect("text fixture");
            replay_to(s.rows, s.cols, &raw, &txt)
        }
        None => parser(s.rows, s.cols, chart(s.name).as_bytes()),
    };
    from_vt100(p.screen())
}

fn chart(name: &str) -> String {
    match name {
        "colours-256" => colours(),
        "box-drawing" => boxes(),
        _ => wide(),
    }
}

fn colours() -> String {
    let mut s = String::from("\x1b[1m16 colours\x1b[0m  ");
    for i in 0..16 {
        s += &format!("\x1b[48;5;{i}m{i:>3} ");
    }
    s += "\x1b[0m\r\n            ";
    for i in 0..16 {
        s += &format!("\x1b[38;5;{i}m{i:>3} ");
    }
    s += "\x1b[0m\r\n\r\n\x1b[1mcube\x1b[0m\r\n";
    for r in 0..6 {
        for g in 0..6 {
            for b in 0..6 {
                s += &format!("\x1b[48;5;{}m  ", 16 + 36 * r + 6 * g + b);
            }
            s += "\x1b[0m ";
            if g == 2 {
                s += "\r\n";
            }
        }
        s += "\x1b[0m\r\n";
    }
    s += "\r\n\x1b[1mgrey ramp\x1b[0m\r\n";
    for i in 232..256 {
        s += &format!("\x1b[48;5;{i}m   ");
    }
    s += "\x1b[0m\r\n\r\n\x1b[1mtruecolour\x1b[0m\r\n";
    for x in 0..78u32 {
        let h = x * 6 * 255 / 78;
        let (r, g, b) = hue(h);
        s += &format!("\x1b[48;2;{r};{g};{b}m ");
    }
    s += "\x1b[0m\r\n";
    for x in 0..78u32 {
        let v = x * 255 / 77;
        s += &format!("\x1b[38;2;{v};{};255m#", 255 - v);
    }
    s += "\x1b[0m\r\n\r\n";
    s +=
        "normal \x1b[1mbold\x1b[0m \x1b[2mdim\x1b[0m \x1b[3mitalic\x1b[0m \x1b[4munderline\x1b[0m ";
    s += "\x1b[7minverse\x1b[0m \x1b[1;3;4;31mall red\x1b[0m \x1b[1;38;5;208mbold 208\x1b[0m ";
    s += "\x1b[30;47m black on white \x1b[0m";
    s
}

fn hue(h: u32) -> (u32, u32, u32) {
    let x = h % 255;
    match h / 255 {
        0 => (255, x, 0),
        1 => (255 - x, 255, 0),
        2 => (0, 255, x),
        3 => (0, 255 - x, 255),
        4 => (x, 0, 255),
        _ => (255, 0, 255 - x),
    }
}

fn boxes() -> String {
    let mut s = String::new();
    // Every box-drawing and block character, in rows of 32, next to each other.
    for row in 0..5u32 {
        s += &format!("{:04X} ", 0x2500 + row * 32);
        for i in 0..32 {
            s.push(char::from_u32(0x2500 + row * 32 + i).unwrap_or('?'));
            s.push(' ');
        }
        s += "\r\n";
    }
    s += "\r\n";
    let frames = [
        "┌───┬───┐ ┏━━━┳━━━┓ ╔═══╦═══╗ ╭───────╮ ┌┄┄┄┄┄┄┄┐ ╓───╥───╖",
        "│ a │ b │ ┃ a ┃ b ┃ ║ a ║ b ║ │ round │ ┆ dash  ┆ ║ a ║ b ║",
        "├───┼───┤ ┣━━━╋━━━┫ ╠═══╬═══╣ ╰───────╯ └╌╌╌╌╌╌╌┘ ╟───╫───╢",
        "│ c │ d │ ┃ c ┃ d ┃ ║ c ║ d ║ ╒═══╤═══╕ ┍━━━┯━━━┑ ║ c ║ d ║",
        "└───┴───┘ ┗━━━┻━━━┛ ╚═══╩═══╝ ╞═══╪═══╡ ┝━━━┿━━━┥ ╙───╨───╜",
        "┎───┰───┒ ┢━━━╈━━━┪ ┏━━━┱───┐ ╘═══╧═══╛ ┕━━━┷━━━┙ ╭─╮╭─╮",
        "┖───┸───┚ ┗━━━┹───┘ ┗━━━┻━━━┛ ╲ ╱ ╳ ┆ ┇ ┊ ┋ ╎ ╏    ╰─╯╰─╯",
        "",
        "░░░▒▒▒▓▓▓███ ▁▂▃▄▅▆▇█ ▏▎▍▌▋▊▉█ ▖▗▘▙▚▛▜▝▞▟ ╱╲╳╱╲╳",
        "⠁⠂⠄⡀⢀⠠⠐⠈ ⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ⣿⣿  ⎿  $ touch ⏺ done ⏵⏵ accept ⏸ pause",
    ];
    for f in frames {
        s += f;
        s += "\r\n";
    }
    s += "\x1b[31m┌──┐\x1b[32m┌──┐\x1b[0m \x1b[44m┌──┐\x1b[0m \x1b[1m┌──┐ bold\x1b[0m\r\n";
    s += "\x1b[31m└──┘\x1b[32m└──┘\x1b[0m \x1b[44m└──┘\x1b[0m \x1b[1m└──┘\x1b[0m";
    s
}

fn wide() -> String {
    [
        "CJK: 中文 日本語 한국어 | fullwidth: ＡＢＣ１２３",
        "emoji: 😀 🎉 👍 | yi: ꀀ | malayalam: അ",
        "combining: e\u{301} a\u{308} n\u{303} o\u{302}\u{323} | é ä ñ ộ",
        "greek: αβγδ ΩΣΔ | cyrillic: Привет | arrows: ←↑→↓ ⇒",
        "\x1b[44m中\x1b[41m文\x1b[0m\x1b[7m字\x1b[0m x\x1b[4m下線\x1b[0m",
        "\x1b[1mbold 中文\x1b[0m \x1b[3mitalic 中文 text\x1b[0m",
        "wrap: 1234567890123456789012345678901234567890123456789012345678中",
    ]
    .join("\r\n")
}
