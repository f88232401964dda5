//! The revival half of the protocol: what the host knows of a session's agent, what reviving
//! a session that is not running would do, and the report of what the host brought back after
//! a restart.
//!
//! Wire types, covered by [`crate::protocol::PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

use crate::ask::Agent;

/// The agent a session runs, and the agent's own session id once known (Claude Code's is
/// chosen by walkie at start; Codex's comes with its first hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSession {
    pub agent: Agent,
    pub id: Option<String>,
}

/// What reviving a session that is not running would do (`walkie ls`, `walkie revive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum RevivePlan {
    /// The agent's own resume command, in the same cwd with the original flags.
    Resume { command: Vec<String> },
    /// The same command again, in the same cwd.
    Restart,
    /// A shell in its cwd (in HOME if the cwd is gone), because of `why`.
    Shell { why: String },
}

/// How one session came out of a host restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReviveOutcome {
    Resumed,
    Restarted,
    /// It could not be resumed: a shell instead, because of `why`.
    Shell {
        why: String,
    },
    /// Left lost (`host.revive` says so): `walkie revive NAME` brings it back.
    Left,
    /// Starting it failed.
    Failed {
        why: String,
    },
}

/// One session in the report of a host restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revived {
    pub name: String,
    /// `claude`, `codex`, `shell`, or the program's name.
    pub kind: String,
    #[serde(flatten)]
    pub outcome: ReviveOutcome,
}

/// Whether `id` looks like an agent's session id: a UUID in its usual spelling (Claude Code
/// and Codex both use them). It becomes a path component and an argument, so nothing else
/// is accepted.
pub fn is_agent_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_uuids_only() {
        assert!(is_agent_id("3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"));
        assert!(is_agent_id("01a23126-5f5e-7b90-baf7-7c06f24e974b"));
        for bad in [
            "",
            "../../etc/passwd",
            "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5",
            "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5bb",
            "3f1c2a4e_5b6d-4e7f-8a9b-0c1d2e3f4a5b",
            "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5/",
            "zf1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        ] {
            assert!(!is_agent_id(bad), "{bad}");
        }
    }
}
