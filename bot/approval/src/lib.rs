//! Approvals, the host-independent core: everything about asking a person "may the agent
//! run this?" that needs no socket, no Telegram and no clock of its own.
//!
//! Requests come from two places, and both end in the same decision model:
//! - [`hook`]: an agent runs `walkie approve-hook`, which hands over a JSON payload and needs
//!   an answer in that agent's own JSON and exit code;
//! - [`detect`]: a prompt drawn on a session's screen (Claude Code, Codex CLI, or a generic
//!   `[y/N]`), answered by typing keys into the PTY.
//!
//! [`policy`] decides what needs no person at all (config rules, "approve for this session"),
//! and [`model`] is the lifecycle of one approval: pending, then decided exactly once.
//!
//! Nothing here does I/O, reads a clock of its own for decisions, or knows a chat service:
//! no tokio, no teloxide, no markup.
//!
//! # Layout
//! - [`card`]: a card's content as neutral data (typed spans, buttons with typed actions).
//! - [`copilot`]: GitHub Copilot CLI's hook payloads, answers, plugin and approval box.
//! - [`detect`]: prompts on a session's screen and the keys that answer them.
//! - [`dialog`]: agents' dialogs that block input (folder trust, API key, hook review), their
//!   choices as verified key steps, and whether an agent's input box is ready.
//! - [`hook`]: agents' hook payloads in, their expected answers out.
//! - [`model`]: one approval's lifecycle, decided exactly once.
//! - [`policy`]: config rules and "approved for this session".
//! - `testing` (tests, and the `test-util` feature): the shared fixtures' approvals.

pub mod card;
pub mod copilot;
pub mod detect;
pub mod dialog;
pub mod hook;
pub mod model;
pub mod policy;

/// The coding agents walkie knows by name (a wire type of the host protocol).
pub use walkie_host_proto::ask::Agent;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

#[cfg(test)]
pub(crate) use testing::fixture;
