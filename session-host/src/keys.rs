//! Named keys (`Enter`, `Escape`, `C-c`, `Up`, ...) to the bytes a terminal sends for them,
//! as in `tmux send-keys`.

/// An unknown key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key {0:?}: use Enter, Escape, Tab, BSpace, Space, Up, Down, Left, Right, Home, End, PageUp, PageDown, Delete, F1-F12, C-a..C-z, M-x, or a single character")]
pub struct UnknownKey(pub String);

/// Bytes for one key name (case-insensitive for the named keys).
pub fn key_bytes(name: &str) -> Result<Vec<u8>, UnknownKey> {
    let lower = name.to_ascii_lowercase();
    let fixed: Option<&[u8]> = match lower.as_str() {
        "enter" | "return" | "cr" => Some(b"\r"),
        "escape" | "esc" => Some(b"\x1b"),
        "tab" => Some(b"\t"),
        "btab" | "s-tab" => Some(b"\x1b[Z"),
        "bspace" | "backspace" | "bs" => Some(b"\x7f"),
        "space" => Some(b" "),
        "up" => Some(b"\x1b[A"),
        "down" => Some(b"\x1b[B"),
        "right" => Some(b"\x1b[C"),
        "left" => Some(b"\x1b[D"),
        "home" => Some(b"\x1b[H"),
        "end" => Some(b"\x1b[F"),
        "pageup" | "pgup" | "ppage" => Some(b"\x1b[5~"),
        "pagedown" | "pgdn" | "npage" => Some(b"\x1b[6~"),
        "delete" | "del" | "dc" => Some(b"\x1b[3~"),
        "insert" | "ic" => Some(b"\x1b[2~"),
        "f1" => Some(b"\x1bOP"),
        "f2" => Some(b"\x1bOQ"),
        "f3" => Some(b"\x1bOR"),
        "f4" => Some(b"\x1bOS"),
        "f5" => Some(b"\x1b[15~"),
        "f6" => Some(b"\x1b[17~"),
        "f7" => Some(b"\x1b[18~"),
        "f8" => Some(b"\x1b[19~"),
        "f9" => Some(b"\x1b[20~"),
        "f10" => Some(b"\x1b[21~"),
        "f11" => Some(b"\x1b[23~"),
        "f12" => Some(b"\x1b[24~"),
        _ => None,
    };
    if let Some(b) = fixed {
        return Ok(b.to_vec());
    }
    let chars: Vec<char> = name.chars().collect();
    // C-x: control character; M-x: Escape prefix.
    if chars.len() == 3 && (chars[0] == 'C' || chars[0] == 'c') && chars[1] == '-' {
        let c = chars[2].to_ascii_lowercase();
        return match c {
            'a'..='z' => Ok(vec![c as u8 - b'a' + 1]),
            '@' | ' ' => Ok(vec![0]),
            '[' => Ok(vec![0x1b]),
            '\\' => Ok(vec![0x1c]),
            ']' => Ok(vec![0x1d]),
            '^' => Ok(vec![0x1e]),
            '_' => Ok(vec![0x1f]),
            '?' => Ok(vec![0x7f]),
            _ => Err(UnknownKey(name.into())),
        };
    }
    if chars.len() >= 3 && (chars[0] == 'M' || chars[0] == 'm') && chars[1] == '-' {
        let rest: String = chars[2..].iter().collect();
        let mut v = vec![0x1b];
        v.extend(key_bytes(&rest)?);
        return Ok(v);
    }
    if chars.len() == 1 {
        return Ok(name.as_bytes().to_vec());
    }
    Err(UnknownKey(name.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_keys() {
        assert_eq!(key_bytes("Enter").unwrap(), b"\r");
        assert_eq!(key_bytes("escape").unwrap(), b"\x1b");
        assert_eq!(key_bytes("C-c").unwrap(), vec![3]);
        assert_eq!(key_bytes("C-\\").unwrap(), vec![0x1c]);
        assert_eq!(key_bytes("Up").unwrap(), b"\x1b[A");
        assert_eq!(key_bytes("M-x").unwrap(), b"\x1bx");
        assert_eq!(key_bytes("y").unwrap(), b"y");
        assert_eq!(key_bytes("1").unwrap(), b"1");
        assert!(key_bytes("Hyper").is_err());
        assert!(key_bytes("C-1").is_err());
    }
}
