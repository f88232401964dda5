//! GitHub Copilot CLI (1.0.102): its hook payloads and answers, the plugin that installs
//! walkie's hooks, and its approval box on the screen.
//!
//! Copilot's hooks differ from Claude Code's and Codex's: event names are camelCase, fields
//! are camelCase (`sessionId`, `toolName`, `toolInput`), and only `permissionRequest` says
//! which event it is (`hookName`); `agentStop`'s payload does not, so walkie's plugin passes
//! the event on the command line (`--event agentStop`). The answers:
//!
//! | event | allow | deny | fall back to the on-screen box |
//! | --- | --- | --- | --- |
//! | `permissionRequest` | `{"behavior": "allow"}` | `{"behavior": "deny", "message": R}` | no output |
//! | `preToolUse` | `{"permissionDecision": "allow"}` | `"deny"` + `permissionDecisionReason` | no output |
//!
//! Claude's `hookSpecificOutput` shape is ignored by Copilot. Like Codex, Copilot runs
//! `permissionRequest` before it draws its box, so the hook has the first, blocking say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::detect::{Input, Prompt, PromptKind};
use crate::hook::{
    hook_command, ApprovalRequest, Decision, HookError, HookEvent, HookInput, HookOutput,
    HOOK_TIMEOUT_MARGIN,
};
use crate::Agent;

/// The fields of a Copilot payload walkie reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    hook_name: Option<String>,
    session_id: Option<String>,
    cwd: Option<String>,
    tool_name: Option<String>,
    /// `permissionRequest` calls it `toolInput`, `preToolUse` `toolArgs`.
    #[serde(default)]
    tool_input: Value,
    #[serde(default)]
    tool_args: Value,
    stop_reason: Option<String>,
}

/// Whether a payload is Copilot's, when the hook was not told: camelCase `sessionId` and no
/// `hook_event_name` (Copilot's notification payload has both spellings).
pub(crate) fn looks_like_copilot(payload: &Value) -> bool {
    payload.get("sessionId").is_some() && payload.get("hook_event_name").is_none()
}

/// Parses a Copilot payload; `event` is the event the hook command was configured for, which
/// `hookName` overrides when the payload has one.
pub(crate) fn parse(input: &str, event: Option<&str>) -> Result<HookInput, HookError> {
    let raw: Raw = serde_json::from_str(input).map_err(|e| HookError::NotJson(e.to_string()))?;
    let event = raw
        .hook_name
        .clone()
        .or_else(|| event.map(str::to_string))
        .ok_or(HookError::NoEvent)?;
    let approval_event = match event.as_str() {
        "permissionRequest" => Some(HookEvent::PermissionRequest),
        "preToolUse" => Some(HookEvent::PreToolUse),
        _ => None,
    };
    if let Some(ev) = approval_event {
        let tool = raw.tool_name.clone().ok_or(HookError::NoTool(event))?;
        let input = if raw.tool_input.is_object() {
            &raw.tool_input
        } else {
            &raw.tool_args
        };
        let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
        return Ok(HookInput::Approval(ApprovalRequest {
            agent: Agent::Copilot,
            event: ev,
            tool,
            command: field("command"),
            file_path: field("path").or_else(|| field("file_path")),
            cwd: raw.cwd,
            description: field("description"),
            session_id: raw.session_id,
        }));
    }
    Ok(match event.as_str() {
        // A subagent's stop is not the end of the turn; only the main agent's is.
        "agentStop" if raw.stop_reason.is_some() => HookInput::Stop {
            agent: Agent::Copilot,
            session_id: raw.session_id,
        },
        _ => HookInput::Other {
            agent: Agent::Copilot,
            event,
        },
    })
}

/// The conversation's id a Copilot payload carries (every one has `sessionId`).
pub(crate) fn session_id(input: &str) -> Option<String> {
    let raw: Raw = serde_json::from_str(input).ok()?;
    raw.session_id.filter(|s| !s.is_empty())
}

/// Copilot's answer for `decision` on `req.event`.
pub(crate) fn render(req: &ApprovalRequest, decision: &Decision) -> HookOutput {
    let json = match (req.event, decision) {
        (_, Decision::Fallback) => return HookOutput::fallback(""),
        (HookEvent::PermissionRequest, Decision::Allow | Decision::AllowNetwork { .. }) => {
            serde_json::json!({"behavior": "allow"})
        }
        (HookEvent::PermissionRequest, Decision::Deny { reason }) => {
            serde_json::json!({"behavior": "deny", "message": reason})
        }
        (HookEvent::PreToolUse, Decision::Allow | Decision::AllowNetwork { .. }) => {
            serde_json::json!({"permissionDecision": "allow"})
        }
        (HookEvent::PreToolUse, Decision::Deny { reason }) => {
            serde_json::json!({"permissionDecision": "deny", "permissionDecisionReason": reason})
        }
    };
    HookOutput::line(json.to_string())
}

/// Where Copilot logs the events of session `session_id` under its home: the
/// `session-state/<id>/events.jsonl` it writes as things happen. `None` for an id that is not
/// a plain file name (it comes from the payload).
pub fn events_log(copilot_home: &Path, session_id: &str) -> Option<PathBuf> {
    let plain = !session_id.is_empty()
        && session_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then(|| {
        copilot_home
            .join("session-state")
            .join(session_id)
            .join("events.jsonl")
    })
}

/// The tool's description for `command`, from the tail of Copilot's event log: its
/// `permissionRequest` payload has none, but the `tool.execution_start` event logged just
/// before it carries the arguments the model gave (`description`, as Copilot's box title).
/// The latest matching event wins; lines that do not parse (a cut first line) are skipped.
pub fn description_from_events(events_tail: &str, command: &str) -> Option<String> {
    events_tail.lines().rev().find_map(|line| {
        let v: Value = serde_json::from_str(line).ok()?;
        if v.get("type")?.as_str()? != "tool.execution_start" {
            return None;
        }
        let args = v.get("data")?.get("arguments")?;
        (args.get("command")?.as_str()? == command)
            .then(|| args.get("description")?.as_str().map(str::to_string))
            .flatten()
            .filter(|d| !d.trim().is_empty())
    })
}

/// How long Copilot gives walkie's `agentStop` hook: it only sends a notice.
const STOP_HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The plugin directory (`copilot --plugin-dir DIR`) that gives a Copilot session walkie's
/// `permissionRequest` and `agentStop` hooks: its files, name and contents. A plugin given
/// on the command line needs no file in any Copilot home and leaves the user's own
/// `hooks/*.json` in force (docs/AGENTS.md).
pub fn plugin_files(walkie_exe: &str, approval_timeout: Duration) -> Vec<(&'static str, String)> {
    let command = hook_command(walkie_exe, Agent::Copilot);
    let plugin = serde_json::json!({
        "name": "walkie",
        "description": "walkie: approvals on the phone, turn ends as notices",
        "version": "0.1.0",
        "hooks": "hooks.json",
    });
    let hooks = serde_json::json!({
        "version": 1,
        "hooks": {
            "permissionRequest": [{
                "type": "command",
                "bash": command,
                "timeoutSec": (approval_timeout + HOOK_TIMEOUT_MARGIN).as_secs(),
            }],
            "agentStop": [{
                "type": "command",
                "bash": format!("{command} --event agentStop"),
                "timeoutSec": STOP_HOOK_TIMEOUT.as_secs(),
            }],
        }
    });
    vec![
        ("plugin.json", plugin.to_string()),
        ("hooks.json", hooks.to_string()),
    ]
}

/// Text of a row inside Copilot's boxes: without the `│` borders (outer and inner) and the
/// spaces around them.
fn unboxed(row: &str) -> &str {
    row.trim_matches(|c: char| c.is_whitespace() || c == '│' || c == '\u{a0}')
}

/// Copilot's approval box:
///
/// ```text
/// ╭──────────────────────────────────────────╮
/// │ Create marker file                       │   (the tool's description)
/// │ ╭──────────────────────────────────────╮ │
/// │ │ touch /tmp/copilot-approved-demo     │ │   (the command)
/// │ ╰──────────────────────────────────────╯ │
/// │                                          │
/// │ Do you want to run this command?         │
/// │                                          │
/// │ ❯ 1. Yes                                 │
/// │   2. Yes, and don't ask again for ...    │
/// │   3. No, and tell Copilot what to do differently (Esc to stop) │
/// │                                          │
/// │ ↑/↓ to navigate · enter to select · esc to cancel │
/// ╰──────────────────────────────────────────╯
/// ```
///
/// The box must be whole (top corner above, footer below), as for the other agents. `1`
/// approves at once; Escape denies and ends the turn.
pub(crate) fn detect(rows: &[String]) -> Option<Prompt> {
    (0..rows.len()).rev().find_map(|q| {
        let t = unboxed(&rows[q]);
        (rows[q].trim_start().starts_with('│')
            && t.starts_with("Do you want to")
            && t.ends_with('?'))
        .then(|| detect_at(rows, q))
        .flatten()
    })
}

fn detect_at(rows: &[String], q: usize) -> Option<Prompt> {
    let mut yes = false;
    let mut no = false;
    let mut footer = false;
    for r in rows.iter().skip(q + 1).take(12) {
        let t = unboxed(r).trim_start_matches(['❯', '›', '>']).trim_start();
        if let Some((n, text)) = t.split_once(". ") {
            if n.parse::<u32>().is_ok() {
                yes |= text.starts_with("Yes");
                no |= text.starts_with("No");
                continue;
            }
        }
        if t.ends_with("esc to cancel") {
            footer = true;
            break;
        }
    }
    if !(yes && no && footer) {
        return None;
    }
    // The outer box's top corner: the first `╭` row above the question that is not inside
    // the box (the inner command box's rows start with `│`).
    let top = (0..q)
        .rev()
        .find(|&i| rows[i].trim_start().starts_with('╭'))?;
    let body = &rows[top + 1..q];
    let inner_top = body.iter().position(|r| unboxed(r).starts_with('╭'));
    let inner_end = body.iter().position(|r| unboxed(r).starts_with('╰'));
    let (command, head) = match (inner_top, inner_end) {
        (Some(a), Some(b)) if a < b => {
            let lines: Vec<&str> = body[a + 1..b]
                .iter()
                .map(|r| unboxed(r))
                .filter(|t| !t.is_empty())
                .collect();
            ((!lines.is_empty()).then(|| lines.join("\n")), &body[..a])
        }
        _ => (None, body),
    };
    // head: the description, then a rule under it.
    let reason = head
        .iter()
        .map(|r| unboxed(r))
        .filter(|t| !t.is_empty() && !t.chars().all(|c| c == '─'))
        .collect::<Vec<_>>()
        .join(" ");
    Some(Prompt {
        kind: PromptKind::Agent(Agent::Copilot),
        question: unboxed(&rows[q]).to_string(),
        command,
        reason: (!reason.is_empty()).then_some(reason),
        approve: vec![Input::Text("1".to_string())],
        deny: vec![Input::Key(walkie_host_proto::keys::Key::new(
            walkie_host_proto::keys::KeyCode::Escape,
        ))],
    })
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;
    use crate::detect::{detect as detect_screen, detect_text, input_chunks, ScreenText};
    use crate::fixture;
    use crate::hook::{parse as parse_any, respond, AskFailure};
    use serde_json::json;

    const COMMAND: &str = "touch /tmp/copilot-approved-demo";

    /// The payloads of `copilot-hooks.jsonl`, each with the event it was recorded for.
    fn hook_lines() -> Vec<(String, String)> {
        String::from_utf8(fixture("copilot-hooks.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["event"].as_str().unwrap().to_string(),
                    v["stdin"].to_string(),
                )
            })
            .collect()
    }

    fn permission_request() -> ApprovalRequest {
        let (_, line) = hook_lines()
            .into_iter()
            .find(|(e, _)| e == "permissionRequest")
            .unwrap();
        match parse_any(&line, Some(Agent::Copilot)).unwrap() {
            HookInput::Approval(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_recorded_payloads_parse() {
        let session = "e004aa2e-bdf3-40e3-8832-c4f22fdf5c79";
        for (event, line) in hook_lines() {
            // As configured by walkie's plugin (told the agent, and the event for agentStop),
            // and left to guess: the same result for what walkie acts on.
            let configured = parse(&line, Some(&event)).unwrap();
            match event.as_str() {
                "permissionRequest" | "preToolUse" => {
                    let HookInput::Approval(r) = configured else {
                        panic!("{event}: {configured:?}")
                    };
                    assert_eq!(r.agent, Agent::Copilot);
                    assert_eq!(r.tool, "bash");
                    assert_eq!(r.command.as_deref(), Some("touch /tmp/copilot-approved-h1"));
                    assert_eq!(r.session_id.as_deref(), Some(session));
                    assert_eq!(r.cwd.as_deref(), Some("/tmp/copilot-repo.bVokE1"));
                    let want = if event == "preToolUse" {
                        HookEvent::PreToolUse
                    } else {
                        HookEvent::PermissionRequest
                    };
                    assert_eq!(r.event, want);
                    // Only preToolUse carries the description.
                    assert_eq!(
                        r.description.is_some(),
                        event == "preToolUse",
                        "{event}: {r:?}"
                    );
                }
                "agentStop" => assert_eq!(
                    configured,
                    HookInput::Stop {
                        agent: Agent::Copilot,
                        session_id: Some(session.into())
                    }
                ),
                _ => assert!(
                    matches!(configured, HookInput::Other { .. }),
                    "{event}: {configured:?}"
                ),
            }
        }
        // Every payload reports the conversation's id, for revival.
        for (event, line) in hook_lines() {
            assert_eq!(
                crate::hook::agent_session(&line, Some(Agent::Copilot)),
                Some((Agent::Copilot, session.to_string())),
                "{event}"
            );
        }
        // Unconfigured: permissionRequest names itself and is recognised as Copilot's.
        let (_, line) = hook_lines()
            .into_iter()
            .find(|(e, _)| e == "permissionRequest")
            .unwrap();
        assert!(matches!(
            parse_any(&line, None),
            Ok(HookInput::Approval(ApprovalRequest {
                agent: Agent::Copilot,
                ..
            }))
        ));
        // An agentStop without the event is nothing to act on, never an approval.
        let (_, stop) = hook_lines()
            .into_iter()
            .find(|(e, _)| e == "agentStop")
            .unwrap();
        assert!(parse(&stop, None).is_err());
    }

    #[test]
    fn the_walkie_fixture_payloads_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/agents/");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).unwrap();
        let r = parse(&read("copilot-permission-request.json"), None).unwrap();
        let HookInput::Approval(r) = r else {
            panic!("{r:?}")
        };
        assert_eq!(r.command.as_deref(), Some("touch /tmp/agx-p2-marker"));
        assert_eq!(
            r.session_id.as_deref(),
            Some("8b76a9f6-d6ec-4f08-b35c-9f1dc712f84b")
        );
        let s = parse(&read("copilot-agent-stop.json"), Some("agentStop")).unwrap();
        assert!(matches!(
            s,
            HookInput::Stop {
                agent: Agent::Copilot,
                session_id: Some(_)
            }
        ));
    }

    #[test]
    fn answers_in_copilots_format() {
        let r = permission_request();
        let out = crate::hook::render(&r, &Decision::Allow);
        assert_eq!(out.stdout, "{\"behavior\":\"allow\"}\n");
        assert_eq!(out.exit_code, 0);
        let out = crate::hook::render(
            &r,
            &Decision::Deny {
                reason: "no \"decision\" from the phone\nwithin 600 s".into(),
            },
        );
        assert_eq!(out.stdout.lines().count(), 1);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"behavior": "deny", "message": "no \"decision\" from the phone\nwithin 600 s"})
        );
        assert_eq!(crate::hook::render(&r, &Decision::Fallback).stdout, "");
        let pre = ApprovalRequest {
            event: HookEvent::PreToolUse,
            ..r
        };
        let v: Value =
            serde_json::from_str(&crate::hook::render(&pre, &Decision::Allow).stdout).unwrap();
        assert_eq!(v, serde_json::json!({"permissionDecision": "allow"}));
    }

    #[test]
    fn respond_asks_once_and_never_allows_on_failure() {
        let (_, line) = hook_lines()
            .into_iter()
            .find(|(e, _)| e == "permissionRequest")
            .unwrap();
        let out = respond(&line, Some(Agent::Copilot), |r| {
            assert_eq!(r.agent, Agent::Copilot);
            Ok(Decision::Allow)
        });
        assert_eq!(out.stdout, "{\"behavior\":\"allow\"}\n");
        let out = respond(&line, Some(Agent::Copilot), |_| {
            Err(AskFailure::Unreachable("no walkie host".into()))
        });
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 0));
        let out = respond(&line, Some(Agent::Copilot), |_| {
            Err(AskFailure::Lost("host restarted".into()))
        });
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["behavior"], "deny");
        // A preToolUse hook set up by hand says its event on the command line.
        let (_, pre) = hook_lines()
            .into_iter()
            .find(|(e, _)| e == "preToolUse")
            .unwrap();
        let out = crate::hook::respond_to(&pre, Some(Agent::Copilot), Some("preToolUse"), |r| {
            assert_eq!(r.description.as_deref(), Some("Create marker file"));
            Ok(Decision::Allow)
        });
        assert_eq!(out.stdout, "{\"permissionDecision\":\"allow\"}\n");
    }

    #[test]
    fn plugin_gives_both_hooks() {
        let files = plugin_files("/opt/my walkie/walkie", Duration::from_secs(600));
        let get = |n: &str| -> Value {
            serde_json::from_str(&files.iter().find(|(f, _)| *f == n).unwrap().1).unwrap()
        };
        assert_eq!(get("plugin.json")["hooks"], "hooks.json");
        let hooks = get("hooks.json");
        assert_eq!(hooks["version"], 1);
        let ask = &hooks["hooks"]["permissionRequest"][0];
        assert_eq!(
            ask["bash"],
            "'/opt/my walkie/walkie' approve-hook --agent copilot"
        );
        assert_eq!(ask["timeoutSec"], 660);
        assert_eq!(
            hooks["hooks"]["agentStop"][0]["bash"],
            "'/opt/my walkie/walkie' approve-hook --agent copilot --event agentStop"
        );
    }

    #[test]
    fn the_description_comes_from_the_event_log() {
        let cmd = "touch /tmp/copilot-approved-1";
        let start = |c: &str, d: &str| {
            json!({"type": "tool.execution_start", "data": {"toolName": "bash",
                "arguments": {"command": c, "description": d}}})
            .to_string()
        };
        let log = [
            "{\"type\": \"tool.exec".to_string(), // cut by reading only the tail
            start(cmd, "Old reason"),
            start("ls", "List"),
            json!({"type": "assistant.turn_start", "data": {}}).to_string(),
            start(cmd, "Create marker file"),
            json!({"type": "permission.requested", "data": {}}).to_string(),
        ]
        .join("\n");
        assert_eq!(
            description_from_events(&log, cmd).as_deref(),
            Some("Create marker file")
        );
        assert_eq!(description_from_events(&log, "rm -rf /"), None);
        assert_eq!(description_from_events("", cmd), None);
        let home = Path::new("/h/.copilot");
        assert_eq!(
            events_log(home, "e004aa2e-bdf3-40e3-8832-c4f22fdf5c79"),
            Some(home.join("session-state/e004aa2e-bdf3-40e3-8832-c4f22fdf5c79/events.jsonl"))
        );
        for bad in ["", "../x", "a/b", ".."] {
            assert_eq!(events_log(home, bad), None, "{bad:?}");
        }
    }

    fn text(name: &str) -> ScreenText {
        ScreenText::from_text(&String::from_utf8(fixture(name)).unwrap())
    }

    #[test]
    fn the_approval_box_on_screen() {
        let p = detect_text(&text("copilot-approval.txt")).expect("prompt");
        assert_eq!(p.kind, PromptKind::Agent(Agent::Copilot));
        assert_eq!(p.question, "Do you want to run this command?");
        assert_eq!(p.command.as_deref(), Some(COMMAND));
        assert_eq!(p.reason.as_deref(), Some("Create marker file"));
        assert_eq!(input_chunks(&p.approve), vec![b"1".to_vec()]);
        assert_eq!(input_chunks(&p.deny), vec![b"\x1b".to_vec()]);
        for f in ["copilot-after-approve.txt", "copilot-after-deny.txt"] {
            assert_eq!(detect_text(&text(f)), None, "{f}");
        }
    }

    /// The hook's request and the box on the screen are one request: one card (the desk
    /// matches them with `Subject::same_request`).
    #[test]
    fn the_hook_and_the_box_are_the_same_request() {
        let prompt = detect_text(&text("copilot-approval.txt")).expect("prompt");
        let hook = crate::model::Subject::Hook {
            request: ApprovalRequest {
                command: Some(COMMAND.into()),
                ..permission_request()
            },
        };
        assert!(hook.same_request(&prompt));
        let other = crate::model::Subject::Hook {
            request: permission_request(),
        };
        assert!(
            !other.same_request(&prompt),
            "another command is another request"
        );
    }

    #[test]
    fn a_cut_box_is_not_a_prompt() {
        let full = text("copilot-approval.txt");
        let q = full
            .rows
            .iter()
            .position(|r| r.contains("Do you want to run this command?"))
            .unwrap();
        // Footer gone (the box is being erased from the bottom, or not drawn yet).
        let mut s = full.clone();
        s.rows.truncate(q + 6);
        assert_eq!(detect_text(&s), None);
        // The question quoted in the conversation, outside any box.
        let s = ScreenText::from_text(
            "● Do you want to run this command?\n 1. Yes\n 3. No\n esc to cancel",
        );
        assert_eq!(detect_text(&s), None);
    }

    /// The raw PTY bytes of the recorded sessions, replayed through an emulator: the approval
    /// box appears exactly once as a prompt, with the command, and is gone at the end.
    #[test]
    fn raw_sessions_replay_to_one_prompt() {
        for (f, marker) in [
            (
                "copilot-approve-session.raw",
                "touch /tmp/copilot-approved-demo",
            ),
            ("copilot-deny-session.raw", "touch /tmp/copilot-approved-d1"),
        ] {
            let raw = fixture(f);
            let nz = |n| NonZeroU16::new(n).unwrap();
            let mut p = vt100::Parser::new(nz(40), nz(120), 0);
            let mut seen: Vec<Prompt> = Vec::new();
            let mut showing = false;
            for chunk in raw.chunks(512) {
                p.process(chunk);
                let now = detect_screen(p.screen());
                if let Some(pr) = &now {
                    if !showing {
                        seen.push(pr.clone());
                    }
                }
                showing = now.is_some();
            }
            assert!(!seen.is_empty(), "{f}: no prompt");
            assert!(
                seen.iter().all(|s| s.command.as_deref() == Some(marker)
                    && s.kind == PromptKind::Agent(Agent::Copilot)),
                "{f}: {seen:?}"
            );
            assert!(!showing, "{f}: still a prompt at the end");
        }
    }
}
