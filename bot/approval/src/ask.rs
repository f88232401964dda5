//! The payload of an ask, as the host carries it from the asker to the bot.

use serde::{Deserialize, Serialize};

use crate::hook::ApprovalRequest;

/// What the host carries for an ask; the bot reads it back to draw the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AskPayload {
    /// An agent's permission request, from its hook.
    Hook { request: ApprovalRequest },
    /// A yes/no question from `walkie ask`.
    Question { question: String, cwd: String },
}
