//! The sandbox half of the protocol: a session's network mode (asked for in
//! [`crate::protocol::NewSession`]) and its boundary as the host reports it for the card
//! ([`crate::protocol::Reply::Boundary`]). The enforcement itself is `walkie-sandbox`'s; this
//! crate holds only the wire vocabulary, so a client needs no sandbox code.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a session reaches the network (the one definition; `walkie-sandbox` re-exports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own network namespace with only loopback.
    Off,
    /// Own network namespace; outbound only through walkie's proxy.
    Allowlist,
    /// The host's network.
    Open,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Off => "off",
            NetworkMode::Allowlist => "allowlist",
            NetworkMode::Open => "open",
        }
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NetworkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<NetworkMode, String> {
        match s {
            "off" => Ok(NetworkMode::Off),
            "allowlist" => Ok(NetworkMode::Allowlist),
            "open" => Ok(NetworkMode::Open),
            other => Err(format!(
                "unknown network mode {other:?}: use off, allowlist or open"
            )),
        }
    }
}

/// A connection the proxy refused (off the allowlist and denied, or failed upstream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedAttempt {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    pub host: String,
    pub port: u16,
    pub reason: String,
}

/// One session's boundary as enforced, for `/boundary NAME` and the card on `/new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundaryInfo {
    pub session: String,
    /// The profile's name (`off`, `workspace`, `readonly` or a custom one).
    pub profile: String,
    /// How it is enforced: "bubblewrap + seccomp + Landlock", "Landlock only", "none".
    pub mechanism: String,
    /// Whether the kernel enforces a file boundary at all (false for `off` or no mechanism).
    pub enforced: bool,
    pub write: Vec<PathBuf>,
    /// Hidden paths (directories emptied, files replaced by /dev/null).
    pub deny_read: Vec<PathBuf>,
    /// Paths inside the write areas kept read-only.
    pub protected: Vec<PathBuf>,
    pub network: NetworkMode,
    /// The domains the proxy lets through now (the profile's and those allowed since).
    pub allow_domains: Vec<String>,
    /// Names (never values) of the credential variables passed into the session.
    pub credentials: Vec<String>,
    /// The agent's own permission mode, when walkie knows it.
    pub agent_mode: Option<String>,
    /// The proxy's last refusals, oldest first.
    pub blocked: Vec<BlockedAttempt>,
    /// Connections waiting for a decision now.
    pub waiting: usize,
    /// What the machine can enforce, and notes (the host's preflight, paths that do not exist).
    pub notes: Vec<String>,
}

/// A live change to a running session's network rules ([`crate::protocol::Request::Widen`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Widen {
    /// Let this domain rule (`pypi.org`, `*.pythonhosted.org`) through for the session.
    AllowDomain { domain: String },
    /// Let every domain through the session's proxy.
    OpenNetwork,
}

/// The folder of the bot's state directory that holds walkie's Claude config directories
/// (`<state>/claude-home/<preset>`, given to Claude as `CLAUDE_CONFIG_DIR`): the bot makes
/// them, the host names them on the boundary card as walkie's copy of `~/.claude`.
pub const CLAUDE_HOME_DIR: &str = "claude-home";
