//! Session names: `[a-z0-9][a-z0-9._-]{0,31}`, short enough to type on a phone and safe
//! in paths, Telegram commands and shell lines.

use std::fmt;

/// A validated session name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionName(String);

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session name {0:?}: use 1-32 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
pub struct BadName(pub String);

impl SessionName {
    pub fn parse(s: &str) -> Result<SessionName, BadName> {
        let b = s.as_bytes();
        let ok_first = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let ok_rest = |c: u8| ok_first(c) || c == b'.' || c == b'_' || c == b'-';
        if !b.is_empty() && b.len() <= 32 && ok_first(b[0]) && b[1..].iter().all(|&c| ok_rest(c)) {
            Ok(SessionName(s.to_string()))
        } else {
            Err(BadName(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        for ok in ["a", "backend", "web-1", "x.y_z", "0", &"a".repeat(32)] {
            assert!(SessionName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "A",
            "a b",
            "a/b",
            "é",
            &"a".repeat(33),
            "a\n",
        ] {
            assert!(SessionName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
