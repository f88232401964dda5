//! `[hosts.NAME]`: other boxes whose session hosts walkie reaches over ssh.
//!
//! ```toml
//! [hosts.cloud]
//! ssh = "me@cloud.example.com:22"   # user@box[:port]
//! # key = "~/.ssh/id_walkie"         # default: walkie's own key (made by `walkie hosts add`)
//! # agent = true                     # or every identity of the ssh agent instead of a key
//! # agent_socket = "/run/user/1000/ssh-agent.socket"   # under systemd SSH_AUTH_SOCK is unset
//! # bridge = "walkie bridge --stdio" # what runs on the box (the authorized_keys command)
//! # socket = "/run/user/1000/walkie/host.sock"  # reach this socket by direct-streamlocal instead
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// The name the machine walkie runs on goes by; no `[hosts.local]` may take it.
pub const LOCAL_HOST: &str = "local";

/// What runs on the box by default: the far end of the link.
pub const DEFAULT_BRIDGE: &str = "walkie bridge --stdio";

/// One remote box.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteHost {
    /// `user@box[:port]`.
    pub ssh: String,
    /// A private key file; `None` is walkie's own key in the state directory.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Authenticate with the ssh agent's identities instead of a key file.
    #[serde(default)]
    pub agent: bool,
    /// The agent's socket when `SSH_AUTH_SOCK` is not set (systemd services).
    #[serde(default)]
    pub agent_socket: Option<PathBuf>,
    /// The command the exec channel runs on the box.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// Connect to this Unix socket on the box (direct-streamlocal; the key must allow
    /// forwarding) instead of running the bridge.
    #[serde(default)]
    pub socket: Option<String>,
    /// How long text and keys sent while the host is down wait in the outbox before they
    /// expire (seconds; default an hour).
    #[serde(default = "default_queue_expiry")]
    pub queue_expiry_s: u64,
}

fn default_queue_expiry() -> u64 {
    3600
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_string()
}

impl RemoteHost {
    /// A host reached at `ssh` with walkie's own key and the default bridge.
    pub fn new(ssh: &str) -> RemoteHost {
        RemoteHost {
            ssh: ssh.to_string(),
            key: None,
            agent: false,
            agent_socket: None,
            bridge: default_bridge(),
            socket: None,
            queue_expiry_s: default_queue_expiry(),
        }
    }
}

/// Whether `name` may name a host: the session-name rule (it is written `api@NAME`),
/// and not the local host's own name.
pub fn check_host_name(name: &str) -> Result<(), String> {
    if !walkie_host_proto::name::is_name(name) {
        return Err(format!(
            "{name:?} is not a host name: use 1-32 characters from a-z, 0-9, '.', '_', '-', starting with a letter or digit, e.g. `cloud`"
        ));
    }
    if name == LOCAL_HOST {
        return Err(format!(
            "{LOCAL_HOST:?} is this machine's own name; call the remote box something else"
        ));
    }
    Ok(())
}

/// Checks one `[hosts.NAME]` table; the message says how to fix it.
pub(crate) fn check(name: &str, h: &RemoteHost) -> Result<(), String> {
    check_host_name(name)?;
    let shape = h
        .ssh
        .split_once('@')
        .is_some_and(|(user, rest)| !user.is_empty() && !rest.is_empty() && !rest.starts_with(':'));
    if !shape || h.ssh.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "ssh = {:?}: write `user@box` or `user@box:port` (e.g. \"me@cloud.example.com:22\")",
            h.ssh
        ));
    }
    if h.agent && h.key.is_some() {
        return Err("set either `key` or `agent = true`, not both".into());
    }
    if h.agent_socket.is_some() && !h.agent {
        return Err("`agent_socket` needs `agent = true`".into());
    }
    if h.bridge.trim().is_empty() || h.bridge.contains(['\n', '\r']) {
        return Err("bridge: one command line, e.g. \"walkie bridge --stdio\"".into());
    }
    if h.queue_expiry_s == 0 {
        return Err("queue_expiry_s = 0 would expire everything sent while the host is down: give seconds, e.g. 3600".into());
    }
    if let Some(s) = &h.socket {
        if !s.starts_with('/') {
            return Err(format!(
                "socket = {s:?}: give the absolute path of the host socket on the box"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tables_are_checked_with_a_fix() {
        assert!(check_host_name("cloud").is_ok());
        assert!(check_host_name("web-2.eu").is_ok());
        assert!(check_host_name("Cloud").unwrap_err().contains("a-z"));
        assert!(check_host_name("local")
            .unwrap_err()
            .contains("this machine"));
        assert!(check_host_name("").is_err());

        assert!(check("cloud", &RemoteHost::new("me@box")).is_ok());
        assert!(check("cloud", &RemoteHost::new("me@[::1]:2222")).is_ok());
        for bad in ["box", "@box", "me@", "me@:22", "me@b ox"] {
            let e = check("cloud", &RemoteHost::new(bad)).unwrap_err();
            assert!(e.contains("user@box"), "{bad}: {e}");
        }
        let mut h = RemoteHost::new("me@box");
        h.agent = true;
        h.key = Some("/k".into());
        assert!(check("cloud", &h).unwrap_err().contains("not both"));
        let mut h = RemoteHost::new("me@box");
        h.socket = Some("run/host.sock".into());
        assert!(check("cloud", &h).unwrap_err().contains("absolute"));
    }
}
