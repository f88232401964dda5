//! The approval half of the protocol: what an ask carries, how it is decided, and the
//! notices a session sends to whoever watches.
//!
//! These are wire types, covered by [`crate::protocol::PROTOCOL_VERSION`]: the host passes
//! them through without reading them, but a client and host of different builds never
//! exchange them, so neither side has to guess at a payload it does not know.

use serde::{Deserialize, Serialize};

/// The coding agents walkie knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agent {
    ClaudeCode,
    Codex,
    /// GitHub Copilot CLI.
    Copilot,
}

impl Agent {
    /// The name shown on cards and accepted by `walkie approve-hook --agent`.
    pub fn label(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude",
            Agent::Codex => "codex",
            Agent::Copilot => "copilot",
        }
    }

    /// Parses [`Agent::label`] (and a few spellings people type).
    pub fn from_label(s: &str) -> Option<Agent> {
        match s.trim().to_ascii_lowercase().as_str() {
            "claude" | "claude-code" | "claude_code" | "claudecode" => Some(Agent::ClaudeCode),
            "codex" | "codex-cli" => Some(Agent::Codex),
            "copilot" | "copilot-cli" => Some(Agent::Copilot),
            _ => None,
        }
    }
}

/// The hook events that ask for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookEvent {
    /// The agent is about to show its permission dialog (Claude Code: while it is shown).
    PermissionRequest,
    /// Before every tool call, whether or not the agent would ask.
    PreToolUse,
}

impl HookEvent {
    pub fn name(self) -> &'static str {
        match self {
            HookEvent::PermissionRequest => "PermissionRequest",
            HookEvent::PreToolUse => "PreToolUse",
        }
    }
}

/// What an agent asks permission for: the normalized form of its hook payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub agent: Agent,
    pub event: HookEvent,
    /// `Bash`, `Edit`, `Write`, ...
    pub tool: String,
    /// The shell command, for shell tools.
    pub command: Option<String>,
    /// The file a file tool touches (`tool_input.file_path`).
    pub file_path: Option<String>,
    pub cwd: Option<String>,
    /// The agent's one-line explanation (`tool_input.description`).
    pub description: Option<String>,
    /// The agent's own session id (not walkie's session name).
    pub session_id: Option<String>,
}

impl ApprovalRequest {
    /// One line for a card: the command, else the tool and its file, else the tool.
    pub fn summary(&self) -> String {
        match (&self.command, &self.file_path) {
            (Some(c), _) => c.clone(),
            (None, Some(f)) => format!("{} {f}", self.tool),
            (None, None) => self.tool.clone(),
        }
    }
}

/// What an ask carries; the watcher reads it to draw the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AskPayload {
    /// An agent's permission request, from its hook.
    Hook { request: ApprovalRequest },
    /// A yes/no question from `walkie ask`.
    Question { question: String, cwd: String },
    /// A sandboxed session's connection to a domain its allowlist does not cover (the
    /// session's proxy holds the connection until the answer). Allow lets this one
    /// connection through, [`Decision::AllowNetwork`] the domain for longer.
    Network {
        host: String,
        port: u16,
        /// The session's sandbox profile, which "always" extends.
        profile: String,
        cwd: String,
    },
}

impl AskPayload {
    /// The network card's question: "api wants to reach pypi.org:443".
    pub fn network_question(session: &str, host: &str, port: u16) -> String {
        format!("{session} wants to reach {host}:{port}")
    }
}

/// How long a network allow lasts beyond the connection that asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkScope {
    /// The domain joins the session's live allowlist until the session ends.
    Session,
    /// Also added to the profile in walkie's own configuration, for new sessions.
    Always,
}

/// The answer to an ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Allow,
    /// Denied; the reason is shown to the agent (and so to the model).
    Deny {
        reason: String,
    },
    /// No decision: let the agent show its own prompt.
    Fallback,
    /// A network ask's domain allowed beyond this connection ([`AskPayload::Network`];
    /// any other asker takes it as [`Decision::Allow`]).
    AllowNetwork {
        scope: NetworkScope,
    },
}

impl Decision {
    /// Whether the asker may go ahead.
    pub fn allows(&self) -> bool {
        matches!(self, Decision::Allow | Decision::AllowNetwork { .. })
    }
}

/// What a [`crate::protocol::Request::Notice`] tells the watchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The agent finished its turn (Claude Code's and Codex's `Stop`, Copilot's `agentStop`).
    TurnEnded,
}
