//! Where a host is and how walkie authenticates to it.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

/// How walkie proves who it is.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A private key file (walkie's dedicated key by default); made with `ssh-keygen` if
    /// missing.
    KeyFile(PathBuf),
    /// Every identity of the ssh agent, in its order. `socket` overrides `SSH_AUTH_SOCK`,
    /// which a systemd service usually does not have.
    Agent { socket: Option<PathBuf> },
}

/// One host: address, credentials, trust files and timing.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// walkie's name for the host (thread name, messages).
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    /// walkie's own known_hosts: read, and appended to by [`crate::trust`].
    pub own_known_hosts: PathBuf,
    /// The user's known_hosts, read only (default `~/.ssh/known_hosts`).
    pub user_known_hosts: Option<PathBuf>,
    /// What [`crate::Link::bridge`] runs on the box; also the `command=` of the
    /// `authorized_keys` line suggested when the key is refused.
    pub bridge_command: String,
    /// How often a keepalive goes out; it also gives TCP something to time out on.
    pub keepalive: Duration,
    /// A link whose sent bytes stay unacknowledged this long is down (TCP_USER_TIMEOUT).
    /// A silent box is seen down within `keepalive + dead_after`.
    pub dead_after: Duration,
    /// Bound on TCP connect, handshake and authentication.
    pub connect_timeout: Duration,
    /// Reconnect backoff: first delay, doubling up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl HostConfig {
    /// A host from `user@box[:port]` with the default timings: keepalive every 5 s, dead
    /// after 10 s unacknowledged (so a silent box is down within 15 s), backoff 250 ms .. 3 s
    /// (so a box coming back is seen within seconds).
    pub fn new(
        name: &str,
        target: &str,
        auth: Auth,
        own_known_hosts: PathBuf,
    ) -> Result<HostConfig, Error> {
        let (user, host, port) = parse_target(target)?;
        let user_known_hosts = std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".ssh").join("known_hosts"));
        Ok(HostConfig {
            name: name.to_string(),
            host,
            port,
            user,
            auth,
            own_known_hosts,
            user_known_hosts,
            bridge_command: "walkie bridge --stdio".to_string(),
            keepalive: Duration::from_secs(5),
            dead_after: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(3),
        })
    }

    /// `host:port` for messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `user@box[:port]` (`user@[::1]:2222` for IPv6) into user, host and port (22).
pub fn parse_target(target: &str) -> Result<(String, String, u16), Error> {
    let bad = |why: &str| Error::BadTarget {
        target: target.to_string(),
        why: why.to_string(),
    };
    // libssh2 takes these as C strings (ssh2 even unwraps a NUL in a host name).
    if target.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("spaces and control characters are not allowed"));
    }
    let (user, rest) = target
        .split_once('@')
        .ok_or_else(|| bad("expected user@box[:port]"))?;
    if user.is_empty() {
        return Err(bad("the user is empty"));
    }
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| bad("unclosed '[' in the address"))?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("unexpected text after ']'")),
        }
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the box is empty"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
        None => 22,
    };
    Ok((user.to_string(), host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = |s: &str| parse_target(s).map_err(|e| e.to_string());
        assert_eq!(t("me@box").unwrap(), ("me".into(), "box".into(), 22));
        assert_eq!(t("me@box:2222").unwrap(), ("me".into(), "box".into(), 2222));
        assert_eq!(t("me@[::1]:2").unwrap(), ("me".into(), "::1".into(), 2));
        assert_eq!(t("me@[::1]").unwrap(), ("me".into(), "::1".into(), 22));
        for bad in [
            "box",
            "@box",
            "me@",
            "me@box:0",
            "me@box:x",
            "me@[::1",
            "me@[::1]x",
        ] {
            assert!(t(bad).is_err(), "{bad} parsed");
        }
    }
}
