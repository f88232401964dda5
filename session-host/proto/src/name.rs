//! Session names: `[a-z0-9][a-z0-9._-]{0,31}`, short enough to type on a phone and safe
//! in paths, Telegram commands and shell lines. Host names (`[hosts.NAME]`) follow the same
//! rule, and an [`Address`] is `name` or `name@host`: '@' is in neither alphabet, so the
//! split is never ambiguous.

use std::fmt;

/// A validated session name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionName(String);

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session name {0:?}: use 1-32 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
pub struct BadName(pub String);

/// The one rule for session and host names.
pub fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    let ok_first = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok_rest = |c: u8| ok_first(c) || c == b'.' || c == b'_' || c == b'-';
    !b.is_empty() && b.len() <= 32 && ok_first(b[0]) && b[1..].iter().all(|&c| ok_rest(c))
}

impl SessionName {
    pub fn parse(s: &str) -> Result<SessionName, BadName> {
        if is_name(s) {
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

/// A session on this machine (`api`) or on a configured host (`api@cloud`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub name: SessionName,
    /// `None`: not said; the local host, or the one host that has a session of that name.
    pub host: Option<String>,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAddress {
    #[error(transparent)]
    Name(#[from] BadName),
    #[error("invalid host name {0:?} in a session address: write `name@host` with the host as in `walkie hosts`")]
    Host(String),
}

impl Address {
    pub fn parse(s: &str) -> Result<Address, BadAddress> {
        let (name, host) = match s.split_once('@') {
            Some((n, h)) => (n, Some(h)),
            None => (s, None),
        };
        let name = SessionName::parse(name)?;
        if let Some(h) = host {
            if !is_name(h) {
                return Err(BadAddress::Host(h.to_string()));
            }
        }
        Ok(Address {
            name,
            host: host.map(str::to_string),
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) => write!(f, "{}@{h}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Address::parse("api@cloud").unwrap();
        assert_eq!((a.name.as_str(), a.host.as_deref()), ("api", Some("cloud")));
        assert_eq!(a.to_string(), "api@cloud");
        let b = Address::parse("api").unwrap();
        assert_eq!(b.host, None);
        assert_eq!(b.to_string(), "api");
        assert!(matches!(
            Address::parse("API@cloud"),
            Err(BadAddress::Name(_))
        ));
        assert!(matches!(Address::parse("api@"), Err(BadAddress::Host(_))));
        assert!(matches!(
            Address::parse("api@Cloud"),
            Err(BadAddress::Host(_))
        ));
        assert!(matches!(
            Address::parse("api@cloud@x"),
            Err(BadAddress::Host(_))
        ));
        assert!(matches!(Address::parse("@cloud"), Err(BadAddress::Name(_))));
    }

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
