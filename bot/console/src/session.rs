//! A session reference with its host: sessions are named per host, so every reference the
//! console keeps (the store, a chat's current session, a live screen) names the host too.
//! Today there is one host, [`LOCAL_HOST`]; a session on another host (over ssh) is the
//! same reference with another host name.

use std::fmt;

/// This machine's host: the store's `host` columns' default, and what rows made before
/// them were migrated to (the one name, from walkie-config, that `[hosts.NAME]` may not take).
pub use walkie_config::hosts::LOCAL_HOST;

/// A session on a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionRef {
    pub host: String,
    pub name: String,
}

impl SessionRef {
    /// `name` on the local host.
    pub fn local(name: impl Into<String>) -> Self {
        SessionRef {
            host: LOCAL_HOST.to_string(),
            name: name.into(),
        }
    }

    /// A session address as the console passes it around (what [`crate::fleet::Fleet`]
    /// answers): `api` and `api@local` on this machine, `api@cloud` on host `cloud`.
    pub fn address(addr: &str) -> Self {
        match addr.split_once('@') {
            Some((name, host)) => SessionRef {
                host: host.to_string(),
                name: name.to_string(),
            },
            None => SessionRef::local(addr),
        }
    }

    pub fn is_local(&self) -> bool {
        self.host == LOCAL_HOST
    }
}

/// As people write it: the name alone on the local host, `name@host` on another (the
/// address syntax of walkie-host-proto's `Address`).
impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_local() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}@{}", self.name, self.host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_session_is_shown_by_its_name_another_hosts_with_the_host() {
        assert_eq!(SessionRef::local("api").to_string(), "api");
        let remote = SessionRef {
            host: "box".into(),
            name: "api".into(),
        };
        assert_eq!(remote.to_string(), "api@box");
        assert_ne!(remote, SessionRef::local("api"));
        assert_eq!(SessionRef::address("api@box"), remote);
        assert_eq!(SessionRef::address("api"), SessionRef::local("api"));
        assert_eq!(SessionRef::address("api@local"), SessionRef::local("api"));
        assert_eq!(SessionRef::address(&remote.to_string()), remote);
    }
}
