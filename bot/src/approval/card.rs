//! The approval card's words and buttons, as plain data (Telegram HTML text and
//! `(label, callback_data)` pairs), so the bot only has to send them.
//!
//! A pending card is a new message (so the phone buzzes) with the session, agent, command,
//! working directory, reason and deadline, and the buttons Approve, Approve for this session,
//! Deny and Screen; people who may only look get it without buttons. Once decided, the card
//! is edited to the outcome, who decided and when, without buttons.

use super::model::{
    encode_callback, Approval, CallbackAction, Decided, Decider, Millis, Outcome, Subject,
};
use crate::telegram::render::{escape_html, utf16_len};

/// Commands longer than this (UTF-16 units) are cut on the card; the whole card then stays
/// far below Telegram's 4096.
const MAX_COMMAND: usize = 2000;

/// One inline button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    /// At most 18 bytes (see `model::encode_callback`).
    pub data: String,
}

/// A message to send or an edit to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// Telegram HTML.
    pub text: String,
    /// Rows of buttons; empty for none.
    pub buttons: Vec<Vec<Button>>,
}

/// `14:02 UTC` for a time in [`Millis`].
pub fn clock(ms: Millis) -> String {
    let mins = ms / 60_000;
    format!("{:02}:{:02} UTC", (mins / 60) % 24, mins % 60)
}

fn cut(s: &str, max: usize) -> String {
    if utf16_len(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        n += c.len_utf16();
        if n > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The lines describing what is asked: who asks, the command, where, why.
fn describe(a: &Approval) -> String {
    let session = escape_html(&a.session);
    let mut lines = Vec::new();
    match &a.subject {
        Subject::Hook { request } => {
            let agent = request.agent.label();
            match &request.command {
                Some(c) => {
                    lines.push(format!("<b>{session}</b> · {agent} wants to run:"));
                    lines.push(format!("<pre>{}</pre>", escape_html(&cut(c, MAX_COMMAND))));
                }
                None => lines.push(format!(
                    "<b>{session}</b> · {agent} wants to use <code>{}</code>",
                    escape_html(&cut(&request.summary(), MAX_COMMAND))
                )),
            }
            if let Some(cwd) = &request.cwd {
                lines.push(format!("📁 <code>{}</code>", escape_html(cwd)));
            }
            if let Some(d) = &request.description {
                lines.push(format!("💬 {}", escape_html(&cut(d, 500))));
            }
        }
        Subject::Screen { prompt } => {
            lines.push(format!(
                "<b>{session}</b> asks: {}",
                escape_html(&cut(&prompt.question, 500))
            ));
            if let Some(c) = &prompt.command {
                lines.push(format!("<pre>{}</pre>", escape_html(&cut(c, MAX_COMMAND))));
            }
            if let Some(r) = &prompt.reason {
                lines.push(format!("💬 {}", escape_html(&cut(r, 500))));
            }
        }
        Subject::Ask { question } => {
            lines.push(format!(
                "<b>{session}</b> asks: {}",
                escape_html(&cut(question, MAX_COMMAND))
            ));
        }
    }
    lines.join("\n")
}

/// The card for a pending approval. `can_decide` is false for viewers: same text, no
/// buttons.
pub fn pending(a: &Approval, can_decide: bool) -> Card {
    let text = format!(
        "🔐 {}\n⏳ denied at {} if nobody answers",
        describe(a),
        clock(a.deadline_ms)
    );
    let b = |label: &str, action| Button {
        label: label.to_string(),
        data: encode_callback(a.id, action),
    };
    let buttons = if can_decide {
        vec![
            vec![
                b("✅ Approve", CallbackAction::Approve),
                b(
                    "✅ Approve for this session",
                    CallbackAction::ApproveForSession,
                ),
            ],
            vec![
                b("⛔ Deny", CallbackAction::Deny),
                b("🖥 Screen", CallbackAction::Screen),
            ],
        ]
    } else {
        Vec::new()
    };
    Card { text, buttons }
}

/// One line saying how it ended: "✅ Approved by ana at 14:02 UTC".
pub fn outcome_line(d: &Decided) -> String {
    let (icon, what) = match d.outcome {
        Outcome::Approved => ("✅", "Approved"),
        Outcome::ApprovedForSession => ("✅", "Approved for this session"),
        Outcome::Denied => ("⛔", "Denied"),
        Outcome::AnsweredAtTerminal => ("⌨️", "Answered at the terminal"),
    };
    let by = match &d.by {
        Decider::Terminal => String::new(),
        Decider::Timeout => " (nobody answered in time)".to_string(),
        Decider::Policy { rule } => format!(" by rule <code>{}</code>", escape_html(rule)),
        other => format!(" by {}", escape_html(&other.describe())),
    };
    format!("{icon} {what}{by} at {}", clock(d.at_ms))
}

/// The card once decided (an edit of the pending card): the request and the outcome, no
/// buttons. A pending approval renders as [`pending`] without buttons.
pub fn decided(a: &Approval) -> Card {
    let text = match a.decided() {
        Some(d) => format!("{}\n{}", outcome_line(d), describe(a)),
        None => return pending(a, false),
    };
    Card {
        text,
        buttons: Vec::new(),
    }
}

/// The short answer to a late or repeated press (plain text, for `answerCallbackQuery`,
/// which shows at most 200 characters).
pub fn already_decided(d: &Decided) -> String {
    let what = match d.outcome {
        Outcome::Approved | Outcome::ApprovedForSession => "approved",
        Outcome::Denied => "denied",
        Outcome::AnsweredAtTerminal => "answered at the terminal",
    };
    let by = match &d.by {
        Decider::Terminal => String::new(),
        other => format!(" by {}", other.describe()),
    };
    cut(&format!("Already {what}{by} at {}", clock(d.at_ms)), 190)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::hook::{parse, HookInput};
    use crate::approval::model::{decode_callback, Answer, ApprovalId, DEFAULT_TIMEOUT};
    use crate::approval::{fixture, Agent};

    // 2026-11-22 15:22:00 UTC
    const T0: Millis = 1_795_360_920_000;

    fn hook_approval() -> Approval {
        let text = String::from_utf8(fixture("claude-hooks.jsonl")).unwrap();
        let req = text
            .lines()
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                match parse(&v["stdin"].to_string(), None).ok()? {
                    HookInput::Approval(r) => Some(r),
                    _ => None,
                }
            })
            .unwrap();
        assert_eq!(req.agent, Agent::ClaudeCode);
        Approval::new(
            ApprovalId(41),
            "backend",
            Subject::Hook { request: req },
            T0,
            DEFAULT_TIMEOUT,
        )
    }

    #[test]
    fn pending_card_says_what_where_why_and_until_when() {
        let a = hook_approval();
        let c = pending(&a, true);
        assert_eq!(
            c.text,
            "🔐 <b>backend</b> · claude wants to run:\n\
             <pre>touch /tmp/agent-approved-demo</pre>\n\
             📁 <code>/srv/demo/agent-repo-1</code>\n\
             💬 Create marker file\n\
             ⏳ denied at 15:32 UTC if nobody answers"
        );
        let labels: Vec<Vec<&str>> = c
            .buttons
            .iter()
            .map(|r| r.iter().map(|b| b.label.as_str()).collect())
            .collect();
        assert_eq!(
            labels,
            [
                ["✅ Approve", "✅ Approve for this session"],
                ["⛔ Deny", "🖥 Screen"]
            ]
        );
        let actions: Vec<_> = c
            .buttons
            .iter()
            .flatten()
            .map(|b| {
                assert!(b.data.len() <= 64);
                decode_callback(&b.data).unwrap()
            })
            .collect();
        assert_eq!(
            actions,
            [
                (ApprovalId(41), CallbackAction::Approve),
                (ApprovalId(41), CallbackAction::ApproveForSession),
                (ApprovalId(41), CallbackAction::Deny),
                (ApprovalId(41), CallbackAction::Screen),
            ]
        );
        // Viewers: the same words, no buttons.
        let v = pending(&a, false);
        assert_eq!(v.text, c.text);
        assert!(v.buttons.is_empty());
    }

    #[test]
    fn decided_card_and_late_presses() {
        let mut a = hook_approval();
        let by = Decider::Phone {
            user_id: 1,
            name: "ana".into(),
        };
        let d = a.decide(Answer::Approve, by, T0 + 65_000).unwrap();
        let c = decided(&a);
        assert!(c.buttons.is_empty());
        assert!(
            c.text
                .starts_with("✅ Approved by ana at 15:23 UTC\n<b>backend</b>"),
            "{}",
            c.text
        );
        assert_eq!(already_decided(&d), "Already approved by ana at 15:23 UTC");

        let mut t = hook_approval();
        t.expire(T0 + 600_000);
        assert!(decided(&t)
            .text
            .starts_with("⛔ Denied (nobody answered in time) at 15:32 UTC"));
        let mut k = hook_approval();
        let d = k.answered_at_terminal(T0).unwrap();
        assert!(decided(&k)
            .text
            .starts_with("⌨️ Answered at the terminal at 15:22 UTC"));
        assert_eq!(
            already_decided(&d),
            "Already answered at the terminal at 15:22 UTC"
        );
        let mut p = hook_approval();
        p.decide(
            Answer::Approve,
            Decider::Policy {
                rule: "touch <x>".into(),
            },
            T0,
        )
        .unwrap();
        assert!(decided(&p)
            .text
            .starts_with("✅ Approved by rule <code>touch &lt;x&gt;</code>"));
        // Still pending: rendered as the pending card without buttons.
        let q = hook_approval();
        assert_eq!(decided(&q), pending(&q, false));
    }

    #[test]
    fn everything_shown_is_escaped_and_bounded() {
        let a = Approval::new(
            ApprovalId(1),
            "s",
            Subject::Ask {
                question: format!("<b>&{}", "x".repeat(10_000)),
            },
            T0,
            DEFAULT_TIMEOUT,
        );
        let c = pending(&a, true);
        assert!(c.text.contains("&lt;b&gt;&amp;"));
        assert!(!c.text.contains("<b>&"));
        assert!(utf16_len(&c.text) < 4096);
        assert!(c.text.contains('…'));
    }

    #[test]
    fn clock_is_utc_hours_and_minutes() {
        assert_eq!(clock(0), "00:00 UTC");
        assert_eq!(clock(T0), "15:22 UTC");
        assert_eq!(clock(T0 + 59_999), "15:22 UTC");
        assert_eq!(clock(T0 + 60_000), "15:23 UTC");
    }
}
