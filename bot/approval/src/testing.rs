//! Fixtures for tests: the crate's own, and (with the `test-util` feature) its users'.

use crate::hook::{parse, ApprovalRequest, HookInput};
use crate::model::{Approval, ApprovalId, Millis, Subject, DEFAULT_TIMEOUT};
use crate::Agent;

/// 2026-11-22 15:22:00 UTC, when the fixture approvals were asked.
pub const T0: Millis = 1_795_360_920_000;

/// A capture from `../shared/fixtures/agents/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/agents/"
    )
    .to_string()
        + name;
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// The first permission request of Claude Code's recorded hooks (`touch ...`).
pub fn claude_hook_request() -> ApprovalRequest {
    let text = String::from_utf8(fixture("claude-hooks.jsonl")).expect("UTF-8 fixture");
    let req = text
        .lines()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            match parse(&v["stdin"].to_string(), None).ok()? {
                HookInput::Approval(r) => Some(r),
                _ => None,
            }
        })
        .expect("a permission request in claude-hooks.jsonl");
    assert_eq!(req.agent, Agent::ClaudeCode);
    req
}

/// That request as a pending approval of session `backend`, asked at [`T0`].
pub fn hook_approval() -> Approval {
    Approval::new(
        ApprovalId(41),
        "backend",
        Subject::Hook {
            request: claude_hook_request(),
        },
        T0,
        DEFAULT_TIMEOUT,
    )
}
