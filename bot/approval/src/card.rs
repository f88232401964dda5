//! The approval card's content as neutral data: lines of typed spans and buttons carrying
//! typed actions. Each front end renders them its own way (Telegram: HTML and
//! `callback_data`); nothing here knows any markup.
//!
//! A pending card is a new message (so the phone buzzes) with the session, agent, command,
//! working directory, reason and deadline, and the buttons Approve, Approve for this session,
//! Deny and Screen; people who may only look get it without buttons. Once decided, the card
//! is edited to the outcome, who decided and when, without buttons.

use super::model::{
    Approval, ApprovalAction, ApprovalId, Decided, Decider, Millis, Outcome, Subject,
    HOST_RESTARTED,
};

/// Commands longer than this (UTF-16 units) are cut on the card; the whole card then stays
/// far below chat message limits (Telegram's is 4096).
const MAX_COMMAND: usize = 2000;

/// A run of text with one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    Plain(String),
    /// Emphasised (a session's name).
    Strong(String),
    /// Inline code (a path, a rule).
    Code(String),
}

/// One line of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Line(Vec<Span>),
    /// Preformatted text (a command), shown as a block of its own.
    Pre(String),
}

/// One button: what pressing it does to which approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub id: ApprovalId,
    pub action: ApprovalAction,
}

/// A message to send or an edit to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub blocks: Vec<Block>,
    /// Rows of buttons; empty for none.
    pub buttons: Vec<Vec<Button>>,
}

impl Card {
    /// The card without markup, e.g. for a log line or a test.
    pub fn plain(&self) -> String {
        let line = |b: &Block| match b {
            Block::Pre(t) => t.clone(),
            Block::Line(spans) => spans
                .iter()
                .map(|s| match s {
                    Span::Plain(t) | Span::Strong(t) | Span::Code(t) => t.as_str(),
                })
                .collect(),
        };
        self.blocks.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}

/// `14:02 UTC` for a time in [`Millis`].
pub fn clock(ms: Millis) -> String {
    let mins = ms / 60_000;
    format!("{:02}:{:02} UTC", (mins / 60) % 24, mins % 60)
}

/// `s` cut to at most `max` UTF-16 units (the unit chat limits count in), with an ellipsis.
pub fn cut(s: &str, max: usize) -> String {
    if s.encode_utf16().count() <= max {
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

fn plain(s: impl Into<String>) -> Span {
    Span::Plain(s.into())
}

/// The lines describing what is asked: who asks, the command, where, why.
fn describe(a: &Approval) -> Vec<Block> {
    let session = || Span::Strong(a.session.clone());
    let mut lines = Vec::new();
    match &a.subject {
        Subject::Hook { request } => {
            let agent = request.agent.label();
            match &request.command {
                Some(c) => {
                    lines.push(Block::Line(vec![
                        session(),
                        plain(format!(" · {agent} wants to run:")),
                    ]));
                    lines.push(Block::Pre(cut(c, MAX_COMMAND)));
                }
                None => lines.push(Block::Line(vec![
                    session(),
                    plain(format!(" · {agent} wants to use ")),
                    Span::Code(cut(&request.summary(), MAX_COMMAND)),
                ])),
            }
            if let Some(cwd) = &request.cwd {
                lines.push(Block::Line(vec![plain("📁 "), Span::Code(cwd.clone())]));
            }
            if let Some(d) = &request.description {
                lines.push(Block::Line(vec![plain(format!("💬 {}", cut(d, 500)))]));
            }
        }
        Subject::Screen { prompt } => {
            lines.push(Block::Line(vec![
                session(),
                plain(format!(" asks: {}", cut(&prompt.question, 500))),
            ]));
            if let Some(c) = &prompt.command {
                lines.push(Block::Pre(cut(c, MAX_COMMAND)));
            }
            if let Some(r) = &prompt.reason {
                lines.push(Block::Line(vec![plain(format!("💬 {}", cut(r, 500)))]));
            }
        }
        Subject::Ask { question } => {
            lines.push(Block::Line(vec![
                session(),
                plain(format!(" asks: {}", cut(question, MAX_COMMAND))),
            ]));
        }
        Subject::Network {
            host,
            port,
            profile,
        } => {
            lines.push(Block::Line(vec![
                session(),
                plain(" wants to reach "),
                Span::Code(format!("{}:{port}", cut(host, MAX_COMMAND))),
            ]));
            lines.push(Block::Line(vec![plain(format!(
                "🌐 not on the allowlist of its sandbox profile {profile}; the connection waits for your answer"
            ))]));
        }
    }
    lines
}

/// The card for a pending approval. `can_decide` is false for viewers: same text, no
/// buttons.
pub fn pending(a: &Approval, can_decide: bool) -> Card {
    let mut blocks = describe(a);
    if let Some(Block::Line(first)) = blocks.first_mut() {
        first.insert(0, plain("🔐 "));
    }
    blocks.push(Block::Line(vec![plain(format!(
        "⏳ denied at {} if nobody answers",
        clock(a.deadline_ms)
    ))]));
    let b = |label: &str, action| Button {
        label: label.to_string(),
        id: a.id,
        action,
    };
    let network = matches!(a.subject, Subject::Network { .. });
    let buttons = if can_decide && network {
        vec![
            vec![
                b("✅ Allow once", ApprovalAction::Approve),
                b(
                    "✅ Allow for this session",
                    ApprovalAction::ApproveForSession,
                ),
            ],
            vec![
                b("♾ Always", ApprovalAction::ApproveAlways),
                b("⛔ Deny", ApprovalAction::Deny),
            ],
        ]
    } else if can_decide {
        vec![
            vec![
                b("✅ Approve", ApprovalAction::Approve),
                b(
                    "✅ Approve for this session",
                    ApprovalAction::ApproveForSession,
                ),
            ],
            vec![
                b("⛔ Deny", ApprovalAction::Deny),
                b("🖥 Screen", ApprovalAction::Screen),
            ],
        ]
    } else {
        Vec::new()
    };
    Card { blocks, buttons }
}

/// How an outcome reads on `subject`'s card: a network card says "Allowed once", not
/// "Approved".
fn outcome_label(subject: &Subject, outcome: Outcome) -> (&'static str, &'static str) {
    let network = matches!(subject, Subject::Network { .. });
    match outcome {
        Outcome::Approved if network => ("✅", "Allowed once"),
        Outcome::Approved => ("✅", "Approved"),
        Outcome::ApprovedForSession if network => ("✅", "Allowed for this session"),
        Outcome::ApprovedForSession => ("✅", "Approved for this session"),
        Outcome::ApprovedAlways => ("♾", "Always allowed (added to the profile)"),
        Outcome::Denied => ("⛔", "Denied"),
        Outcome::AnsweredAtTerminal => ("⌨️", "Answered at the terminal"),
    }
}

/// One line saying how it ended: "✅ Approved by ana at 14:02 UTC".
pub fn outcome_line(d: &Decided) -> Block {
    outcome_line_for(
        &Subject::Ask {
            question: String::new(),
        },
        d,
    )
}

/// [`outcome_line`] in the words of `subject`'s card.
pub fn outcome_line_for(subject: &Subject, d: &Decided) -> Block {
    if matches!(&d.by, Decider::Abandoned { reason } if reason == HOST_RESTARTED) {
        return Block::Line(vec![plain(format!(
            "⌛ Expired: {HOST_RESTARTED} at {}",
            clock(d.at_ms)
        ))]);
    }
    let (icon, what) = outcome_label(subject, d.outcome);
    let mut spans = vec![plain(format!("{icon} {what}"))];
    match &d.by {
        Decider::Terminal => {}
        Decider::Timeout => spans.push(plain(" (nobody answered in time)")),
        Decider::Policy { rule } => {
            spans.push(plain(" by rule "));
            spans.push(Span::Code(rule.clone()));
        }
        other => spans.push(plain(format!(" by {}", other.describe()))),
    }
    spans.push(plain(format!(" at {}", clock(d.at_ms))));
    Block::Line(spans)
}

/// The card once decided (an edit of the pending card): the request and the outcome, no
/// buttons. A pending approval renders as [`pending`] without buttons.
pub fn decided(a: &Approval) -> Card {
    let Some(d) = a.decided() else {
        return pending(a, false);
    };
    let mut blocks = vec![outcome_line_for(&a.subject, d)];
    blocks.extend(describe(a));
    Card {
        blocks,
        buttons: Vec::new(),
    }
}

/// The short answer to a late or repeated press (plain text; Telegram shows at most 200
/// characters of a press's answer).
pub fn already_decided(d: &Decided) -> String {
    let what = match d.outcome {
        Outcome::Approved | Outcome::ApprovedForSession | Outcome::ApprovedAlways => "approved",
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
    use crate::model::{Answer, DEFAULT_TIMEOUT};
    use crate::testing::{hook_approval, T0};

    #[test]
    fn approvals_of_a_host_that_went_away_show_as_expired() {
        let mut a = hook_approval();
        a.abandon(HOST_RESTARTED, T0 + 60_000).unwrap();
        let text = decided(&a).plain();
        assert!(
            text.starts_with("⌛ Expired: the session host restarted at 15:23 UTC"),
            "{text}"
        );
    }

    #[test]
    fn pending_card_says_what_where_why_and_until_when() {
        let a = hook_approval();
        let c = pending(&a, true);
        assert_eq!(
            c.plain(),
            "🔐 backend · claude wants to run:\n\
             touch /tmp/agent-approved-demo\n\
             📁 /srv/demo/agent-repo-1\n\
             💬 Create marker file\n\
             ⏳ denied at 15:32 UTC if nobody answers"
        );
        assert_eq!(
            c.blocks[1],
            Block::Pre("touch /tmp/agent-approved-demo".into())
        );
        let buttons: Vec<Vec<(&str, ApprovalAction)>> = c
            .buttons
            .iter()
            .map(|r| {
                r.iter()
                    .map(|b| {
                        assert_eq!(b.id, ApprovalId(41));
                        (b.label.as_str(), b.action)
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            buttons,
            [
                [
                    ("✅ Approve", ApprovalAction::Approve),
                    (
                        "✅ Approve for this session",
                        ApprovalAction::ApproveForSession
                    )
                ],
                [
                    ("⛔ Deny", ApprovalAction::Deny),
                    ("🖥 Screen", ApprovalAction::Screen)
                ]
            ]
        );
        // Viewers: the same words, no buttons.
        let v = pending(&a, false);
        assert_eq!(v.blocks, c.blocks);
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
            c.plain()
                .starts_with("✅ Approved by ana at 15:23 UTC\nbackend"),
            "{}",
            c.plain()
        );
        assert_eq!(already_decided(&d), "Already approved by ana at 15:23 UTC");

        let mut t = hook_approval();
        t.expire(T0 + 600_000);
        assert!(decided(&t)
            .plain()
            .starts_with("⛔ Denied (nobody answered in time) at 15:32 UTC"));
        let mut k = hook_approval();
        let d = k.answered_at_terminal(T0).unwrap();
        assert!(decided(&k)
            .plain()
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
        assert_eq!(
            decided(&p).blocks[0],
            Block::Line(vec![
                plain("✅ Approved"),
                plain(" by rule "),
                Span::Code("touch <x>".into()),
                plain(" at 15:22 UTC"),
            ])
        );
        // Still pending: rendered as the pending card without buttons.
        let q = hook_approval();
        assert_eq!(decided(&q), pending(&q, false));
    }

    #[test]
    fn long_questions_are_cut() {
        let a = Approval::new(
            ApprovalId(1),
            "s",
            Subject::Ask {
                question: "x".repeat(10_000),
            },
            T0,
            DEFAULT_TIMEOUT,
        );
        let c = pending(&a, true);
        assert!(c.plain().encode_utf16().count() < 4096);
        assert!(c.plain().contains('…'));
    }

    #[test]
    fn a_network_card_offers_once_session_always_and_deny() {
        let mut a = Approval::new(
            ApprovalId(9),
            "api",
            Subject::Network {
                host: "pypi.org".into(),
                port: 443,
                profile: "workspace".into(),
            },
            T0,
            DEFAULT_TIMEOUT,
        );
        let c = pending(&a, true);
        assert!(
            c.plain()
                .starts_with("🔐 api wants to reach pypi.org:443\n"),
            "{}",
            c.plain()
        );
        let actions: Vec<(&str, ApprovalAction)> = c
            .buttons
            .iter()
            .flatten()
            .map(|b| (b.label.as_str(), b.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("✅ Allow once", ApprovalAction::Approve),
                (
                    "✅ Allow for this session",
                    ApprovalAction::ApproveForSession
                ),
                ("♾ Always", ApprovalAction::ApproveAlways),
                ("⛔ Deny", ApprovalAction::Deny),
            ]
        );
        assert!(pending(&a, false).buttons.is_empty());
        let ana = Decider::Phone {
            user_id: 1,
            name: "ana".into(),
        };
        let d = a.decide(Answer::ApproveAlways, ana, T0 + 60_000).unwrap();
        assert_eq!(
            d.decision_for(&a.subject),
            crate::hook::Decision::AllowNetwork {
                scope: walkie_host_proto::ask::NetworkScope::Always
            }
        );
        assert!(decided(&a)
            .plain()
            .starts_with("♾ Always allowed (added to the profile) by ana at 15:23 UTC"));
    }

    #[test]
    fn clock_is_utc_hours_and_minutes() {
        assert_eq!(clock(0), "00:00 UTC");
        assert_eq!(clock(T0), "15:22 UTC");
        assert_eq!(clock(T0 + 59_999), "15:22 UTC");
        assert_eq!(clock(T0 + 60_000), "15:23 UTC");
    }
}
