//! `walkie approve-hook` without its I/O: the agent's hook payload in, the agent's expected
//! answer (stdout JSON and exit code) out.
//!
//! Claude Code and Codex CLI run a configured command for each hook event and pass one JSON
//! object on stdin (`hook_event_name`, `session_id`, `cwd`, `tool_name`, `tool_input`);
//! GitHub Copilot CLI's camelCase payloads and answers are in [`crate::copilot`]. The
//! answers this module renders:
//!
//! | agent, event | allow | deny | fall back to the on-screen prompt |
//! | --- | --- | --- | --- |
//! | Claude Code / Codex, `PermissionRequest` | `decision.behavior = "allow"` | `"deny"` + `message` | no output |
//! | Claude Code, `PreToolUse` | `permissionDecision = "allow"` | `"deny"` + `permissionDecisionReason` | no output |
//! | Codex, `PreToolUse` | no output (it cannot allow there) | `"deny"` + reason | no output |
//!
//! Codex's `PreToolUse` hook asks only inside walkie's boundary
//! ([`codex_asks_before_every_command`]); elsewhere it says nothing at once.
//!
//! Every answer exits 0: "no output, exit 0" is how both agents are told "no opinion, ask the
//! person at the terminal", which is also the answer whenever walkie cannot decide (host
//! unreachable, payload not understood). A hook failure must never turn into an allow.
//!
//! [`respond`] is the whole hook given a function that asks the host; [`hooks_settings`],
//! [`claude_args`] and [`codex_args`] are the settings that make an agent run it.
//!
//! # Adding the hook by hand
//! Inside a walkie session (`WALKIE_SESSION` and `WALKIE_SOCKET` are set there), put this in
//! Claude Code's settings (`~/.claude/settings.json`, or the project's
//! `.claude/settings.json`), or in Codex's `hooks.json` in its home (`~/.codex/`), with
//! `--agent codex`:
//!
//! ```json
//! {"hooks": {"PermissionRequest": [{"matcher": "Bash", "hooks": [
//!   {"type": "command", "command": "walkie approve-hook --agent claude", "timeout": 660}]}]}}
//! ```
//!
//! For Copilot CLI, a file in `~/.copilot/hooks/` such as
//! `{"version": 1, "hooks": {"permissionRequest": [{"type": "command", "bash": "walkie
//! approve-hook --agent copilot", "timeoutSec": 660}]}}` (see [`crate::copilot`]).
//!
//! The hook's `timeout` should exceed walkie's `approvals.timeout_s` (so walkie's deny with a
//! reason comes first). Outside a walkie session, or with no host running, the hook says
//! nothing and the agent asks on screen as usual. Claude Code only shows prompts in
//! `--permission-mode default`; Codex only with `approval_policy = "on-request"`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Agent;
// The wire forms, shared with the host protocol; this module reads and writes the agents'
// own JSON around them.
pub use walkie_host_proto::ask::{ApprovalRequest, Decision, HookEvent};

/// A hook payload, sorted by what walkie does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookInput {
    /// Needs a decision.
    Approval(ApprovalRequest),
    /// Claude Code's `Notification` (e.g. `notification_type = "permission_prompt"`).
    Notification {
        agent: Agent,
        notification_type: Option<String>,
        message: Option<String>,
        session_id: Option<String>,
    },
    /// The agent finished its turn.
    Stop {
        agent: Agent,
        session_id: Option<String>,
    },
    /// Any other event (`PostToolUse`, ...): nothing to decide.
    Other { agent: Agent, event: String },
}

/// Payloads that cannot be understood. The hook then falls back to the on-screen prompt.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    #[error("hook input is not a JSON object: {0}")]
    NotJson(String),
    #[error("hook input has no hook_event_name")]
    NoEvent,
    #[error("hook input for {0} has no tool_name")]
    NoTool(String),
}

/// The raw payload fields walkie reads; everything else is ignored, since both agents add
/// fields between versions.
#[derive(Debug, Deserialize)]
struct Raw {
    hook_event_name: Option<String>,
    session_id: Option<String>,
    cwd: Option<String>,
    tool_name: Option<String>,
    #[serde(default)]
    tool_input: Value,
    transcript_path: Option<String>,
    turn_id: Option<String>,
    notification_type: Option<String>,
    message: Option<String>,
    /// Set in the payloads of hooks that fire inside a subagent (Claude Code).
    agent_id: Option<String>,
}

/// Which agent sent a payload, when `walkie approve-hook` was not told (`--agent`).
///
/// Codex's payloads carry a `turn_id` and its transcripts live under `sessions/.../rollout-*`;
/// Claude Code's transcripts live under `.claude/projects/`. Anything else is taken to be
/// Claude Code, whose format Codex copies.
fn guess_agent(raw: &Raw) -> Agent {
    let path = raw.transcript_path.as_deref().unwrap_or("");
    if raw.turn_id.is_some() || path.contains("/rollout-") {
        Agent::Codex
    } else {
        Agent::ClaudeCode
    }
}

/// Parses one hook payload. `agent` is what the hook command was configured with, if
/// anything (it beats guessing).
pub fn parse(input: &str, agent: Option<Agent>) -> Result<HookInput, HookError> {
    parse_event(input, agent, None)
}

/// [`parse`], for a hook command configured for one `event`: Copilot's payloads do not all
/// say which event they are (its `agentStop`), so walkie's hook command says it.
pub fn parse_event(
    input: &str,
    agent: Option<Agent>,
    event: Option<&str>,
) -> Result<HookInput, HookError> {
    if is_copilot(input, agent) {
        return crate::copilot::parse(input, event);
    }
    let raw: Raw = serde_json::from_str(input).map_err(|e| HookError::NotJson(e.to_string()))?;
    let agent = agent.unwrap_or_else(|| guess_agent(&raw));
    let event = raw.hook_event_name.clone().ok_or(HookError::NoEvent)?;
    let approval_event = match event.as_str() {
        "PermissionRequest" => Some(HookEvent::PermissionRequest),
        "PreToolUse" => Some(HookEvent::PreToolUse),
        _ => None,
    };
    if let Some(ev) = approval_event {
        let tool = raw.tool_name.clone().ok_or(HookError::NoTool(event))?;
        let field = |k: &str| {
            raw.tool_input
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        return Ok(HookInput::Approval(ApprovalRequest {
            agent,
            event: ev,
            tool,
            command: field("command"),
            file_path: field("file_path"),
            cwd: raw.cwd,
            description: field("description"),
            session_id: raw.session_id,
        }));
    }
    Ok(match event.as_str() {
        "Notification" => HookInput::Notification {
            agent,
            notification_type: raw.notification_type,
            message: raw.message,
            session_id: raw.session_id,
        },
        "Stop" => HookInput::Stop {
            agent,
            session_id: raw.session_id,
        },
        _ => HookInput::Other { agent, event },
    })
}

/// The agent's own session id a payload reports, for resuming the agent after a host
/// restart: `None` for a subagent's event (its id is not the conversation's), or a payload
/// without one.
pub fn agent_session(input: &str, agent: Option<Agent>) -> Option<(Agent, String)> {
    if is_copilot(input, agent) {
        return crate::copilot::session_id(input).map(|id| (Agent::Copilot, id));
    }
    let raw: Raw = serde_json::from_str(input).ok()?;
    let event = raw.hook_event_name.as_deref().unwrap_or("");
    if raw.agent_id.is_some() || event.starts_with("Subagent") {
        return None;
    }
    let agent = agent.unwrap_or_else(|| guess_agent(&raw));
    Some((agent, raw.session_id.filter(|s| !s.is_empty())?))
}

/// Whether a payload is Copilot CLI's: told so, or by its shape.
fn is_copilot(input: &str, agent: Option<Agent>) -> bool {
    match agent {
        Some(a) => a == Agent::Copilot,
        None => serde_json::from_str::<Value>(input)
            .is_ok_and(|v| crate::copilot::looks_like_copilot(&v)),
    }
}

/// What the hook process prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutput {
    /// One JSON line, or empty.
    pub stdout: String,
    /// For people reading the agent's hook log; the agents ignore it on exit 0.
    pub stderr: String,
    pub exit_code: i32,
}

impl HookOutput {
    /// No opinion: the agent asks at the terminal. `note` says why, on stderr.
    pub fn fallback(note: &str) -> HookOutput {
        HookOutput {
            stdout: String::new(),
            stderr: if note.is_empty() {
                String::new()
            } else {
                format!("walkie: {note}; answer on screen\n")
            },
            exit_code: 0,
        }
    }

    pub(crate) fn line(json: String) -> HookOutput {
        HookOutput {
            stdout: json + "\n",
            stderr: String::new(),
            exit_code: 0,
        }
    }
}

/// The answer `req.agent` expects for `decision` on `req.event`. Field order is the one the
/// agents document (serde_json would sort the keys).
pub fn render(req: &ApprovalRequest, decision: &Decision) -> HookOutput {
    if req.agent == Agent::Copilot {
        return crate::copilot::render(req, decision);
    }
    let ev = req.event.name();
    match (req.event, decision) {
        (_, Decision::Fallback) => HookOutput::fallback(""),
        (HookEvent::PermissionRequest, Decision::Allow | Decision::AllowNetwork { .. }) => {
            HookOutput::line(format!(
                r#"{{"hookSpecificOutput":{{"hookEventName":"{ev}","decision":{{"behavior":"allow"}}}}}}"#
            ))
        }
        (HookEvent::PermissionRequest, Decision::Deny { reason }) => HookOutput::line(format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"{ev}","decision":{{"behavior":"deny","message":{}}}}}}}"#,
            json_string(reason)
        )),
        // Codex's PreToolUse cannot allow: saying nothing lets its normal approval flow run.
        (HookEvent::PreToolUse, Decision::Allow | Decision::AllowNetwork { .. })
            if req.agent == Agent::Codex =>
        {
            HookOutput::fallback("")
        }
        (HookEvent::PreToolUse, Decision::Allow | Decision::AllowNetwork { .. }) => {
            HookOutput::line(format!(
                r#"{{"hookSpecificOutput":{{"hookEventName":"{ev}","permissionDecision":"allow"}}}}"#
            ))
        }
        (HookEvent::PreToolUse, Decision::Deny { reason }) => HookOutput::line(format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"{ev}","permissionDecision":"deny","permissionDecisionReason":{}}}}}"#,
            json_string(reason)
        )),
    }
}

/// A JSON string literal (quoted and escaped).
fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Why no decision came back for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskFailure {
    /// No walkie host answered: nobody is waiting on the phone, so the agent's own prompt is
    /// the place to answer.
    Unreachable(String),
    /// The host went away (restarted) while the request was pending: denied, because a
    /// person may have been about to refuse and can no longer.
    Lost(String),
}

/// All of `walkie approve-hook` between reading stdin and writing stdout. `ask` does the
/// I/O: it hands the request to the host and waits for the decision. Events that ask for no
/// decision (`PostToolUse`, `Stop`, ...) and payloads that cannot be read get no output, so
/// the agent carries on as if the hook were not there.
pub fn respond(
    stdin: &str,
    agent: Option<Agent>,
    ask: impl FnOnce(&ApprovalRequest) -> Result<Decision, AskFailure>,
) -> HookOutput {
    respond_to(stdin, agent, None, ask)
}

/// [`respond`] for a hook command configured for one `event` ([`parse_event`]).
pub fn respond_to(
    stdin: &str,
    agent: Option<Agent>,
    event: Option<&str>,
    ask: impl FnOnce(&ApprovalRequest) -> Result<Decision, AskFailure>,
) -> HookOutput {
    let req = match parse_event(stdin, agent, event) {
        Ok(HookInput::Approval(r)) => r,
        Ok(_) => return HookOutput::fallback(""),
        Err(e) => return HookOutput::fallback(&e.to_string()),
    };
    match ask(&req) {
        Ok(d) => render(&req, &d),
        Err(AskFailure::Unreachable(why)) => HookOutput::fallback(&why),
        Err(AskFailure::Lost(why)) => render(
            &req,
            &Decision::Deny {
                reason: format!("walkie lost this request ({why}); denied to be safe"),
            },
        ),
    }
}

/// Extra time the agent gives the hook beyond walkie's own deadline, so that walkie's
/// timeout (a deny with a reason) always comes before the agent kills the hook.
pub const HOOK_TIMEOUT_MARGIN: Duration = Duration::from_secs(60);

/// The command an agent runs as its hook: `'<walkie>' approve-hook --agent <agent>`, with the
/// executable's path quoted for the shell the agent runs it with.
pub fn hook_command(walkie_exe: &str, agent: Agent) -> String {
    format!(
        "{} approve-hook --agent {}",
        shell_quote(walkie_exe),
        agent.label()
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `hooks` settings object both agents read (Claude Code from `--settings` or its
/// settings files, Codex from `hooks.json` in its home), asking walkie on
/// `PermissionRequest` for shell commands. `PreToolUse` is left alone: it fires for every
/// tool call, including ones the agent would not ask about, and Codex cannot allow there.
pub fn hooks_settings(hook_command: &str, approval_timeout: Duration) -> String {
    let timeout = (approval_timeout + HOOK_TIMEOUT_MARGIN).as_secs();
    serde_json::json!({
        "hooks": {
            "PermissionRequest": [{
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": hook_command, "timeout": timeout}]
            }],
            // The end of a turn, for the "finished its turn" notification.
            "Stop": [{
                "hooks": [{"type": "command", "command": hook_command, "timeout": STOP_HOOK_TIMEOUT.as_secs()}]
            }]
        }
    })
    .to_string()
}

/// Arguments that make a Claude Code session ask walkie, without touching the user's own
/// settings files: `--settings` adds to them for this run only.
pub fn claude_args(walkie_exe: &str, approval_timeout: Duration) -> Vec<String> {
    vec![
        "--settings".to_string(),
        hooks_settings(
            &hook_command(walkie_exe, Agent::ClaudeCode),
            approval_timeout,
        ),
    ]
}

/// Arguments that make a Codex session ask walkie and report its turn ends, without any file:
/// walkie's `PermissionRequest` and `Stop` hooks as `-c` overrides, plus their trust entries.
///
/// Codex runs a hook only once its trust entry (`hooks.state`) holds the hash of that hook's
/// definition, else it shows "Hooks need review" at start. Hooks given with `-c` are keyed by
/// the literal source `/<session-flags>/config.toml`, so the entries can be computed here; the
/// inline-table form is required (dotted keys still brought the dialog, Codex 0.169.0), and
/// it is merged with the user's own `hooks.state`, whose entries keep applying.
pub fn codex_args(walkie_exe: &str, approval_timeout: Duration) -> Vec<String> {
    let command = hook_command(walkie_exe, Agent::Codex);
    let ask_timeout = (approval_timeout + HOOK_TIMEOUT_MARGIN).as_secs();
    let stop_timeout = STOP_HOOK_TIMEOUT.as_secs();
    let q = |s: &str| Value::String(s.to_string()).to_string();
    vec![
        "-c".to_string(),
        format!(
            "hooks.PermissionRequest=[{{matcher=\"Bash\",hooks=[{{type=\"command\",command={},timeout={ask_timeout}}}]}}]",
            q(&command)
        ),
        "-c".to_string(),
        format!(
            "hooks.PreToolUse=[{{matcher=\"Bash\",hooks=[{{type=\"command\",command={},timeout={ask_timeout}}}]}}]",
            q(&command)
        ),
        "-c".to_string(),
        format!(
            "hooks.Stop=[{{hooks=[{{type=\"command\",command={},timeout={stop_timeout}}}]}}]",
            q(&command)
        ),
        "-c".to_string(),
        format!(
            "hooks.state={{{}={{trusted_hash={}}},{}={{trusted_hash={}}},{}={{trusted_hash={}}}}}",
            q("/<session-flags>/config.toml:permission_request:0:0"),
            q(&codex_trust_hash("permission_request", Some("Bash"), ask_timeout, &command)),
            q("/<session-flags>/config.toml:pre_tool_use:0:0"),
            q(&codex_trust_hash("pre_tool_use", Some("Bash"), ask_timeout, &command)),
            q("/<session-flags>/config.toml:stop:0:0"),
            q(&codex_trust_hash("stop", None, stop_timeout, &command)),
        ),
    ]
}

/// Whether walkie's `PreToolUse` hook asks the phone about a Codex shell command: only inside
/// walkie's boundary, where the host replaced Codex's own sandbox (`sandbox_mode =
/// "danger-full-access"`), so Codex under `on-request` would run every command without asking
/// (Codex 0.169.0 has no policy that asks for each one: `untrusted` is "no longer supported").
/// Elsewhere Codex asks itself and its `PermissionRequest` hook brings the card; the
/// `PreToolUse` hook then says nothing at once. `sandbox` is the session's `WALKIE_SANDBOX`
/// (set inside every enforced boundary).
pub fn codex_asks_before_every_command(sandbox: Option<&str>) -> bool {
    sandbox.is_some_and(|s| !s.is_empty())
}

/// How long an agent gives walkie's `Stop` hook: it only sends a notice.
const STOP_HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The hash Codex keeps in `hooks.state` for a trusted hook (docs/AGENTS.md, checked against
/// the hashes Codex writes itself): sha256 of the compact JSON, keys sorted, of the hook's
/// event, matcher and definition. The path it came from is not in it.
pub fn codex_trust_hash(event: &str, matcher: Option<&str>, timeout: u64, command: &str) -> String {
    use sha2::Digest;
    let mut group = serde_json::Map::new();
    group.insert("event_name".into(), Value::from(event));
    group.insert(
        "hooks".into(),
        serde_json::json!([{"async": false, "command": command, "timeout": timeout, "type": "command"}]),
    );
    if let Some(m) = matcher {
        group.insert("matcher".into(), Value::from(m));
    }
    // serde_json's map is ordered by key (no `preserve_order`), so this is Codex's sorted form.
    let digest = sha2::Sha256::digest(Value::Object(group).to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use serde_json::json;

    const COMMAND: &str = "touch /tmp/agent-approved-demo";
    const CWD: &str = "/srv/demo/agent-repo-1";

    /// Every hook line of a fixture file: its `stdin`, re-serialised as the agent sent it.
    fn hook_lines(name: &str) -> Vec<String> {
        String::from_utf8(fixture(name))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["stdin"].to_string()
            })
            .collect()
    }

    #[test]
    fn every_fixture_hook_line_parses() {
        for (file, agent, session) in [
            (
                "claude-hooks.jsonl",
                Agent::ClaudeCode,
                "4aaefecf-dab3-4085-b4d8-fde46704612b",
            ),
            (
                "codex-hooks.jsonl",
                Agent::Codex,
                "01a203da-dc6a-7431-8591-28155ea7b146",
            ),
        ] {
            let lines = hook_lines(file);
            assert_eq!(lines.len(), 3, "{file}");
            let mut events = Vec::new();
            for line in &lines {
                // Told the agent, or left to guess: the same result.
                let told = parse(line, Some(agent)).unwrap();
                let guessed = parse(line, None).unwrap();
                assert_eq!(told, guessed, "{file}: {line}");
                match told {
                    HookInput::Approval(r) => {
                        assert_eq!(r.agent, agent);
                        assert_eq!(r.tool, "Bash");
                        assert_eq!(r.command.as_deref(), Some(COMMAND));
                        assert_eq!(r.cwd.as_deref(), Some(CWD));
                        assert_eq!(r.session_id.as_deref(), Some(session));
                        assert_eq!(r.file_path, None);
                        assert_eq!(r.summary(), COMMAND);
                        // Codex's PreToolUse has no description; every other one does.
                        let want_desc =
                            !(agent == Agent::Codex && r.event == HookEvent::PreToolUse);
                        assert_eq!(
                            r.description.as_deref(),
                            want_desc.then_some("Create marker file"),
                            "{file} {:?}",
                            r.event
                        );
                        events.push(r.event.name().to_string());
                    }
                    HookInput::Other { agent: a, event } => {
                        assert_eq!(a, agent);
                        events.push(event);
                    }
                    other => panic!("{file}: unexpected {other:?}"),
                }
            }
            assert_eq!(
                events,
                ["PreToolUse", "PermissionRequest", "PostToolUse"],
                "{file}"
            );
        }
    }

    fn request(agent: Agent, event: HookEvent) -> ApprovalRequest {
        let file = match agent {
            Agent::ClaudeCode => "claude-hooks.jsonl",
            Agent::Codex => "codex-hooks.jsonl",
            Agent::Copilot => unreachable!("Copilot's hooks are tested in copilot.rs"),
        };
        hook_lines(file)
            .iter()
            .find_map(|l| match parse(l, None) {
                Ok(HookInput::Approval(r)) if r.event == event => Some(r),
                _ => None,
            })
            .unwrap()
    }

    fn deny() -> Decision {
        Decision::Deny {
            reason: "denied from Telegram by ana".into(),
        }
    }

    #[test]
    fn claude_permission_request_answers() {
        let r = request(Agent::ClaudeCode, HookEvent::PermissionRequest);
        let out = render(&r, &Decision::Allow);
        assert_eq!(
            out.stdout,
            // Exactly the README's line.
            "{\"hookSpecificOutput\":{\"hookEventName\":\"PermissionRequest\",\"decision\":{\"behavior\":\"allow\"}}}\n"
        );
        assert_eq!(out.exit_code, 0);
        let out = render(&r, &deny());
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            v,
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                "decision": {"behavior": "deny", "message": "denied from Telegram by ana"}}})
        );
        assert_eq!(out.exit_code, 0);
        let out = render(&r, &Decision::Fallback);
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 0));
    }

    #[test]
    fn claude_pre_tool_use_answers() {
        let r = request(Agent::ClaudeCode, HookEvent::PreToolUse);
        let v: Value = serde_json::from_str(&render(&r, &Decision::Allow).stdout).unwrap();
        assert_eq!(
            v,
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}})
        );
        let out = render(&r, &deny());
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            v,
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                "permissionDecisionReason": "denied from Telegram by ana"}})
        );
        assert_eq!(out.exit_code, 0);
        assert_eq!(render(&r, &Decision::Fallback).stdout, "");
    }

    #[test]
    fn codex_answers() {
        let r = request(Agent::Codex, HookEvent::PermissionRequest);
        let v: Value = serde_json::from_str(&render(&r, &Decision::Allow).stdout).unwrap();
        assert_eq!(
            v,
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}})
        );
        let v: Value = serde_json::from_str(&render(&r, &deny()).stdout).unwrap();
        assert_eq!(
            v["hookSpecificOutput"]["decision"],
            json!({"behavior": "deny", "message": "denied from Telegram by ana"})
        );
        assert_eq!(render(&r, &Decision::Fallback).stdout, "");

        // PreToolUse: deny works, allow cannot be said, so nothing is said.
        let r = request(Agent::Codex, HookEvent::PreToolUse);
        let out = render(&r, &Decision::Allow);
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 0));
        let v: Value = serde_json::from_str(&render(&r, &deny()).stdout).unwrap();
        assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    }

    #[test]
    fn every_answer_exits_zero_and_is_one_json_line_or_nothing() {
        for agent in [Agent::ClaudeCode, Agent::Codex] {
            for event in [HookEvent::PermissionRequest, HookEvent::PreToolUse] {
                let r = request(agent, event);
                for d in [Decision::Allow, deny(), Decision::Fallback] {
                    let out = render(&r, &d);
                    assert_eq!(out.exit_code, 0);
                    if !out.stdout.is_empty() {
                        assert!(out.stdout.ends_with('\n'));
                        assert_eq!(out.stdout.lines().count(), 1);
                        let _: Value = serde_json::from_str(&out.stdout).unwrap();
                    }
                }
            }
        }
    }

    #[test]
    fn deny_reasons_are_escaped() {
        let reason = "no \"rm\" here\nsecond line \\ ünïcode </script>";
        for event in [HookEvent::PermissionRequest, HookEvent::PreToolUse] {
            let r = request(Agent::ClaudeCode, event);
            let out = render(
                &r,
                &Decision::Deny {
                    reason: reason.into(),
                },
            );
            assert_eq!(out.stdout.lines().count(), 1);
            let v: Value = serde_json::from_str(&out.stdout).unwrap();
            let got = match event {
                HookEvent::PermissionRequest => &v["hookSpecificOutput"]["decision"]["message"],
                HookEvent::PreToolUse => &v["hookSpecificOutput"]["permissionDecisionReason"],
            };
            assert_eq!(got, reason);
        }
    }

    #[test]
    fn fallback_explains_on_stderr_only() {
        let out = HookOutput::fallback("the walkie host is not running");
        assert_eq!(out.stdout, "");
        assert_eq!(out.exit_code, 0);
        assert!(out.stderr.contains("the walkie host is not running"));
    }

    #[test]
    fn other_payloads() {
        let n = parse(
            r#"{"hook_event_name":"Notification","session_id":"s","notification_type":"permission_prompt","message":"Claude needs your permission"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            n,
            HookInput::Notification {
                agent: Agent::ClaudeCode,
                notification_type: Some("permission_prompt".into()),
                message: Some("Claude needs your permission".into()),
                session_id: Some("s".into()),
            }
        );
        let s = parse(
            r#"{"hook_event_name":"Stop","session_id":"s","turn_id":"t"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            s,
            HookInput::Stop {
                agent: Agent::Codex,
                session_id: Some("s".into())
            }
        );
        // A file tool: no command, the file instead.
        let e = parse(
            r#"{"hook_event_name":"PermissionRequest","tool_name":"Edit","tool_input":{"file_path":"/r/src/main.rs","old_string":"a","new_string":"b"}}"#,
            Some(Agent::ClaudeCode),
        )
        .unwrap();
        let HookInput::Approval(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.command, None);
        assert_eq!(e.summary(), "Edit /r/src/main.rs");
    }

    #[test]
    fn session_ids_come_from_the_main_agent_only() {
        let stop = include_str!("../../../tests/fixtures/agents/codex-stop.json");
        assert_eq!(
            agent_session(stop, None),
            Some((Agent::Codex, "01a23126-5f5e-7b90-baf7-7c06f24e974b".into()))
        );
        let main =
            r#"{"hook_event_name":"Stop","session_id":"3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}"#;
        assert_eq!(
            agent_session(main, Some(Agent::ClaudeCode)),
            Some((
                Agent::ClaudeCode,
                "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b".into()
            ))
        );
        for sub in [
            r#"{"hook_event_name":"PermissionRequest","session_id":"s","agent_id":"a1","agent_type":"Explore","tool_name":"Bash"}"#,
            r#"{"hook_event_name":"SubagentStop","session_id":"s"}"#,
            r#"{"hook_event_name":"Stop"}"#,
            "not json",
        ] {
            assert_eq!(agent_session(sub, Some(Agent::ClaudeCode)), None, "{sub}");
        }
    }

    #[test]
    fn bad_payloads_are_errors_not_panics() {
        assert!(matches!(parse("", None), Err(HookError::NotJson(_))));
        assert!(matches!(parse("[1,2]", None), Err(HookError::NotJson(_))));
        assert!(matches!(
            parse("{\"cwd\":\"/\"}", None),
            Err(HookError::NoEvent)
        ));
        assert!(matches!(
            parse("{\"hook_event_name\":\"PreToolUse\"}", None),
            Err(HookError::NoTool(_))
        ));
        // Wrong types in fields walkie does not need are not fatal.
        let r = parse(
            r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":42}}"#,
            None,
        )
        .unwrap();
        assert!(matches!(
            r,
            HookInput::Approval(ApprovalRequest { command: None, .. })
        ));
    }

    #[test]
    fn respond_runs_the_whole_hook() {
        for (file, agent) in [
            ("claude-hooks.jsonl", Agent::ClaudeCode),
            ("codex-hooks.jsonl", Agent::Codex),
        ] {
            for line in hook_lines(file) {
                let HookInput::Approval(req) = parse(&line, None).unwrap() else {
                    // PostToolUse: nothing to ask, nothing printed.
                    let out = respond(&line, Some(agent), |_| panic!("asked for {line}"));
                    assert_eq!(out, HookOutput::fallback(""));
                    continue;
                };
                let allowed = respond(&line, Some(agent), |r| {
                    assert_eq!(r, &req);
                    Ok(Decision::Allow)
                });
                assert_eq!(allowed, render(&req, &Decision::Allow));
                // Host not there: the agent's own prompt, never an allow.
                let unreachable = respond(&line, None, |_| {
                    Err(AskFailure::Unreachable("no walkie host".into()))
                });
                assert_eq!(unreachable.stdout, "");
                assert_eq!(unreachable.exit_code, 0);
                assert!(unreachable.stderr.contains("no walkie host"));
                // Host restarted while waiting: denied.
                let lost = respond(&line, None, |_| {
                    Err(AskFailure::Lost("host restarted".into()))
                });
                let v: Value = serde_json::from_str(&lost.stdout).unwrap();
                let o = &v["hookSpecificOutput"];
                assert!(
                    o["decision"]["behavior"] == "deny" || o["permissionDecision"] == "deny",
                    "{file}: {lost:?}"
                );
            }
        }
        let garbage = respond("not json", None, |_| panic!("asked"));
        assert_eq!(garbage.stdout, "");
        assert_eq!(garbage.exit_code, 0);
    }

    #[test]
    fn claude_settings_for_presets() {
        let args = claude_args("/opt/my tools/walkie", Duration::from_secs(600));
        assert_eq!(args[0], "--settings");
        let v: Value = serde_json::from_str(&args[1]).unwrap();
        let h = &v["hooks"]["PermissionRequest"][0];
        assert_eq!(h["matcher"], "Bash");
        assert_eq!(h["hooks"][0]["type"], "command");
        assert_eq!(
            h["hooks"][0]["command"],
            "'/opt/my tools/walkie' approve-hook --agent claude"
        );
        assert_eq!(h["hooks"][0]["timeout"], 660);
        assert_eq!(
            hook_command("/it's/walkie", Agent::Codex),
            "'/it'\\''s/walkie' approve-hook --agent codex"
        );
    }

    #[test]
    fn codex_trust_hash_matches_what_codex_wrote() {
        // The formula of docs/AGENTS.md (checked there against hashes Codex wrote), computed
        // independently with Python's json.dumps(sort_keys=True, separators=(",", ":")).
        assert_eq!(
            codex_trust_hash("stop", None, 600, "true"),
            "sha256:2ba34c7a02841fada06b868a093d041fd3d9de81883c789a321916b0aa118851"
        );
        assert_ne!(
            codex_trust_hash("stop", None, 600, "true"),
            codex_trust_hash("stop", Some("Bash"), 600, "true")
        );
        let args = codex_args("/opt/walkie", Duration::from_secs(600));
        assert_eq!(args.len(), 8);
        assert!(args[1].contains("approve-hook --agent codex") && args[1].contains("timeout=660"));
        assert!(args[3].starts_with("hooks.PreToolUse=") && args[3].contains("timeout=660"));
        assert!(args[5].starts_with("hooks.Stop=") && args[5].contains("timeout=10"));
        assert!(args[7].contains(&codex_trust_hash(
            "pre_tool_use",
            Some("Bash"),
            660,
            "'/opt/walkie' approve-hook --agent codex"
        )));
        assert!(args[7].contains(&codex_trust_hash(
            "permission_request",
            Some("Bash"),
            660,
            "'/opt/walkie' approve-hook --agent codex"
        )));
    }
}
