//! The one key table: key names (`Enter`, `C-c`, `BTab`, `y`) to the bytes a terminal sends
//! for them, as in `tmux send-keys`. The CLI (`walkie keys`), the bot's `/keys` and prompt
//! detection all parse and type keys through [`Key`].
//!
//! Names are case-insensitive. tmux's names are the canonical ones ([`Key`]'s `Display`);
//! the spellings people also type (`Backspace`, `PageUp`, `Delete`, `Esc`, `backtab`) are
//! aliases. A single printable character is typed as itself.
//!
//! Also the detach sequence of `walkie attach` ([`DETACH_PREFIX`], [`filter_detach`]), read by
//! whoever reads the terminal: the client, or the host that was handed the terminal.

use std::fmt;
use std::str::FromStr;

/// A key without modifiers (see [`Key`] for `M-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    Enter,
    Escape,
    Tab,
    /// Shift-Tab.
    BTab,
    BSpace,
    Space,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    /// Page Up.
    PPage,
    /// Page Down.
    NPage,
    /// Delete.
    DC,
    /// Insert.
    IC,
    /// F1 to F12.
    F(u8),
    /// `C-x`: the control character, stored as its byte (`C-c` is 3).
    Ctrl(u8),
    /// A printable character typed as itself.
    Char(char),
}

/// One key: a [`KeyCode`], with Meta (`M-`, sent as an Escape prefix) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub meta: bool,
}

/// Every key name family [`Key::from_str`] accepts, in the words of the error message.
pub const KEY_NAMES: &str = "Enter, Escape, Tab, BTab, BSpace, Space, Up, Down, Left, Right, Home, End, PPage, NPage, DC, IC, F1-F12, C-a..C-z, M-KEY, or a single character";

/// A name [`Key::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key {0:?}: use {KEY_NAMES}")]
pub struct UnknownKey(pub String);

/// The named keys: every accepted spelling (lower case) and the key. The first spelling of
/// each key is its canonical name, lower-cased.
const NAMED: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("cr", KeyCode::Enter),
    ("escape", KeyCode::Escape),
    ("esc", KeyCode::Escape),
    ("tab", KeyCode::Tab),
    ("btab", KeyCode::BTab),
    ("backtab", KeyCode::BTab),
    ("s-tab", KeyCode::BTab),
    ("bspace", KeyCode::BSpace),
    ("backspace", KeyCode::BSpace),
    ("bs", KeyCode::BSpace),
    ("space", KeyCode::Space),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("ppage", KeyCode::PPage),
    ("pageup", KeyCode::PPage),
    ("pgup", KeyCode::PPage),
    ("npage", KeyCode::NPage),
    ("pagedown", KeyCode::NPage),
    ("pgdn", KeyCode::NPage),
    ("dc", KeyCode::DC),
    ("delete", KeyCode::DC),
    ("del", KeyCode::DC),
    ("ic", KeyCode::IC),
    ("insert", KeyCode::IC),
];

impl KeyCode {
    /// The bytes an xterm-like terminal sends for this key.
    pub fn bytes(self) -> Vec<u8> {
        let fixed: &[u8] = match self {
            KeyCode::Enter => b"\r",
            KeyCode::Escape => b"\x1b",
            KeyCode::Tab => b"\t",
            KeyCode::BTab => b"\x1b[Z",
            KeyCode::BSpace => b"\x7f",
            KeyCode::Space => b" ",
            KeyCode::Up => b"\x1b[A",
            KeyCode::Down => b"\x1b[B",
            KeyCode::Right => b"\x1b[C",
            KeyCode::Left => b"\x1b[D",
            KeyCode::Home => b"\x1b[H",
            KeyCode::End => b"\x1b[F",
            KeyCode::PPage => b"\x1b[5~",
            KeyCode::NPage => b"\x1b[6~",
            KeyCode::DC => b"\x1b[3~",
            KeyCode::IC => b"\x1b[2~",
            KeyCode::F(n) => match n {
                1 => b"\x1bOP",
                2 => b"\x1bOQ",
                3 => b"\x1bOR",
                4 => b"\x1bOS",
                5 => b"\x1b[15~",
                6 => b"\x1b[17~",
                7 => b"\x1b[18~",
                8 => b"\x1b[19~",
                9 => b"\x1b[20~",
                10 => b"\x1b[21~",
                11 => b"\x1b[23~",
                // Only F1-F12 parse; a larger number is F12.
                _ => b"\x1b[24~",
            },
            KeyCode::Ctrl(b) => return vec![b],
            KeyCode::Char(c) => return c.to_string().into_bytes(),
        };
        fixed.to_vec()
    }

    fn parse(name: &str) -> Option<KeyCode> {
        let lower = name.to_ascii_lowercase();
        if let Some((_, k)) = NAMED.iter().find(|(n, _)| *n == lower) {
            return Some(*k);
        }
        if let Some(n) = lower.strip_prefix('f') {
            if let Ok(n @ 1..=12) = n.parse::<u8>() {
                return Some(KeyCode::F(n));
            }
        }
        let mut chars = name.chars();
        match (chars.next(), chars.next(), chars.next(), chars.next()) {
            (Some(c), None, ..) if !c.is_control() => Some(match c {
                ' ' => KeyCode::Space,
                c => KeyCode::Char(c),
            }),
            (Some('C' | 'c'), Some('-'), Some(c), None) => ctrl_byte(c).map(KeyCode::Ctrl),
            _ => None,
        }
    }
}

/// The control character `C-c` names, as tmux and the terminal line discipline spell them.
fn ctrl_byte(c: char) -> Option<u8> {
    match c.to_ascii_lowercase() {
        c @ 'a'..='z' => Some(c as u8 - b'a' + 1),
        '@' | ' ' => Some(0),
        '[' => Some(0x1b),
        '\\' => Some(0x1c),
        ']' => Some(0x1d),
        '^' => Some(0x1e),
        '_' => Some(0x1f),
        '?' => Some(0x7f),
        _ => None,
    }
}

impl Key {
    pub const fn new(code: KeyCode) -> Key {
        Key { code, meta: false }
    }

    /// The bytes to type for this key.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4);
        if self.meta {
            v.push(0x1b);
        }
        v.extend(self.code.bytes());
        v
    }
}

impl From<KeyCode> for Key {
    fn from(code: KeyCode) -> Key {
        Key::new(code)
    }
}

impl FromStr for Key {
    type Err = UnknownKey;

    fn from_str(name: &str) -> Result<Key, UnknownKey> {
        if let Some(code) = KeyCode::parse(name) {
            return Ok(Key::new(code));
        }
        // `M-x`: Meta and any other key (not Meta again: one Escape prefix is all it means).
        let rest = name
            .strip_prefix("M-")
            .or_else(|| name.strip_prefix("m-"))
            .filter(|r| !r.is_empty());
        match rest.and_then(KeyCode::parse) {
            Some(code) => Ok(Key { code, meta: true }),
            None => Err(UnknownKey(name.into())),
        }
    }
}

impl fmt::Display for KeyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            KeyCode::Enter => "Enter",
            KeyCode::Escape => "Escape",
            KeyCode::Tab => "Tab",
            KeyCode::BTab => "BTab",
            KeyCode::BSpace => "BSpace",
            KeyCode::Space => "Space",
            KeyCode::Up => "Up",
            KeyCode::Down => "Down",
            KeyCode::Left => "Left",
            KeyCode::Right => "Right",
            KeyCode::Home => "Home",
            KeyCode::End => "End",
            KeyCode::PPage => "PPage",
            KeyCode::NPage => "NPage",
            KeyCode::DC => "DC",
            KeyCode::IC => "IC",
            KeyCode::F(n) => return write!(f, "F{n}"),
            KeyCode::Ctrl(b) => {
                let c = match b {
                    0 => '@',
                    1..=26 => (b'a' + b - 1) as char,
                    0x7f => '?',
                    b => (b + 0x40) as char,
                };
                return write!(f, "C-{c}");
            }
            KeyCode::Char(c) => return write!(f, "{c}"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for Key {
    /// The canonical (tmux) name, which parses back to the same key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.meta {
            f.write_str("M-")?;
        }
        write!(f, "{}", self.code)
    }
}

/// The detach prefix of `walkie attach`: Ctrl-\ (0x1c), then `d` (or Ctrl-D). Read by the
/// client, or by the host when the client handed it the terminal.
pub const DETACH_PREFIX: u8 = 0x1c;

/// Splits input on the detach sequence. Returns the bytes to forward and whether to detach.
/// `armed` carries a trailing prefix over to the next read.
pub fn filter_detach(input: &[u8], armed: &mut bool) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if *armed {
            *armed = false;
            match b {
                b'd' | 0x04 => return (out, true),
                DETACH_PREFIX => out.push(DETACH_PREFIX),
                other => {
                    out.push(DETACH_PREFIX);
                    out.push(other);
                }
            }
        } else if b == DETACH_PREFIX {
            *armed = true;
        } else {
            out.push(b);
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(name: &str) -> Vec<u8> {
        name.parse::<Key>()
            .unwrap_or_else(|e| panic!("{e}"))
            .bytes()
    }

    #[test]
    fn named_keys() {
        assert_eq!(bytes("Enter"), b"\r");
        assert_eq!(bytes("escape"), b"\x1b");
        assert_eq!(bytes("Esc"), b"\x1b");
        assert_eq!(bytes("C-c"), vec![3]);
        assert_eq!(bytes("c-C"), vec![3]);
        assert_eq!(bytes("C-\\"), vec![0x1c]);
        assert_eq!(bytes("Up"), b"\x1b[A");
        assert_eq!(bytes("M-x"), b"\x1bx");
        assert_eq!(bytes("M-Up"), b"\x1b\x1b[A");
        assert_eq!(bytes("F5"), b"\x1b[15~");
        assert_eq!(bytes("Space"), b" ");
    }

    #[test]
    fn tmux_names_and_their_aliases_agree() {
        assert_eq!(bytes("BSpace"), b"\x7f");
        assert_eq!(bytes("backspace"), bytes("BSpace"));
        assert_eq!(bytes("BTab"), b"\x1b[Z");
        // `backtab` is accepted as an alias of BTab, by the host and the bot alike.
        assert_eq!(bytes("backtab"), b"\x1b[Z");
        assert_eq!(bytes("NPage"), b"\x1b[6~");
        assert_eq!(bytes("PageDown"), bytes("NPage"));
        assert_eq!(bytes("PPage"), b"\x1b[5~");
        assert_eq!(bytes("DC"), b"\x1b[3~");
        assert_eq!(bytes("Delete"), bytes("DC"));
        assert_eq!(bytes("IC"), b"\x1b[2~");
        assert_eq!(bytes("home"), b"\x1b[H");
        assert_eq!(bytes("END"), b"\x1b[F");
    }

    #[test]
    fn single_characters_are_typed_as_themselves() {
        for c in ["y", "n", "1", "Y", "?", "é"] {
            assert_eq!(bytes(c), c.as_bytes(), "{c}");
        }
        // A control character is not a key name (C-x says which one is meant).
        assert!("\x03".parse::<Key>().is_err());
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in [
            "", "Hyper", "C-1", "C-", "M-", "F0", "F13", "M-M-x", "C-cc", "Enterr",
        ] {
            let e = bad.parse::<Key>().unwrap_err();
            assert_eq!(e, UnknownKey(bad.into()));
        }
    }

    #[test]
    fn the_error_lists_names_that_parse() {
        let msg = UnknownKey("x".into()).to_string();
        for name in [
            "Enter", "Escape", "Tab", "BTab", "BSpace", "Space", "Up", "Down", "Left", "Right",
            "Home", "End", "PPage", "NPage", "DC", "IC", "F1", "F12", "C-a", "C-z",
        ] {
            assert!(msg.contains(name), "{name} not in {msg}");
            assert!(
                name.parse::<Key>().is_ok(),
                "{name} is suggested but refused"
            );
        }
        // Every family the message names, word for word, parses.
        for word in KEY_NAMES.split(", ") {
            let example = match word {
                "F1-F12" => "F7",
                "C-a..C-z" => "C-q",
                "M-KEY" => "M-Enter",
                "or a single character" => "q",
                w => w,
            };
            assert!(example.parse::<Key>().is_ok(), "{word}");
        }
    }

    #[test]
    fn display_is_the_canonical_name_and_parses_back() {
        for name in [
            "Enter", "BTab", "BSpace", "NPage", "PPage", "DC", "IC", "F3", "C-c", "C-@", "C-\\",
            "C-?", "M-x", "M-Up", "y", "Space",
        ] {
            let k: Key = name.parse().unwrap();
            assert_eq!(k.to_string(), name);
            assert_eq!(k.to_string().parse::<Key>().unwrap(), k);
        }
        assert_eq!("pagedown".parse::<Key>().unwrap().to_string(), "NPage");
        assert_eq!("backtab".parse::<Key>().unwrap().to_string(), "BTab");
    }

    #[test]
    fn detach_sequence() {
        let mut armed = false;
        assert_eq!(
            filter_detach(b"ls\r", &mut armed),
            (b"ls\r".to_vec(), false)
        );
        assert_eq!(filter_detach(b"a\x1cd", &mut armed), (b"a".to_vec(), true));
        // Split across reads.
        assert_eq!(filter_detach(b"x\x1c", &mut armed), (b"x".to_vec(), false));
        assert!(armed);
        assert_eq!(filter_detach(b"d", &mut armed), (vec![], true));
        // Doubled prefix types one; another key types both.
        let mut armed = false;
        assert_eq!(
            filter_detach(b"\x1c\x1cq", &mut armed),
            (b"\x1cq".to_vec(), false)
        );
        assert_eq!(
            filter_detach(b"\x1cq", &mut armed),
            (b"\x1cq".to_vec(), false)
        );
    }
}
