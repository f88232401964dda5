//! The phone's message after a host restart: one per host, naming what came back and how
//! ("♻️ revived after restart: api (claude, resumed), logs (shell, restarted)"), with a
//! screen and a kill button for each session that runs again. Neutral content: the front
//! end renders it ([`crate::front::Frontend::revived`]).

use walkie_host_proto::revival::{ReviveOutcome, Revived};

/// The message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevivalNote {
    /// The lines of the message, without markup.
    pub lines: Vec<String>,
    /// The sessions running again, each to get a screen and a kill button.
    pub sessions: Vec<String>,
}

/// The message for the host's report.
pub fn note(report: &[Revived]) -> RevivalNote {
    let mut back = Vec::new();
    let mut more = Vec::new();
    let mut sessions = Vec::new();
    for r in report {
        let how = match &r.outcome {
            ReviveOutcome::Resumed => Some("resumed"),
            ReviveOutcome::Restarted => Some("restarted"),
            ReviveOutcome::Shell { why } => {
                more.push(format!(
                    "{}: {} could not be resumed ({why}); it is a shell now",
                    r.name, r.kind
                ));
                Some("as a shell")
            }
            ReviveOutcome::Left => {
                more.push(format!(
                    "{} ({}) stays lost: `walkie revive {}` starts it",
                    r.name, r.kind, r.name
                ));
                None
            }
            ReviveOutcome::Failed { why } => {
                more.push(format!("{} ({}) could not start: {why}", r.name, r.kind));
                None
            }
        };
        if let Some(how) = how {
            back.push(format!("{} ({}, {how})", r.name, r.kind));
            sessions.push(r.name.clone());
        }
    }
    let mut lines = Vec::new();
    if back.is_empty() {
        lines.push("♻️ the session host restarted".to_string());
    } else {
        lines.push(format!("♻️ revived after restart: {}", back.join(", ")));
    }
    lines.extend(more);
    RevivalNote { lines, sessions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, kind: &str, outcome: ReviveOutcome) -> Revived {
        Revived {
            name: name.into(),
            kind: kind.into(),
            outcome,
        }
    }

    #[test]
    fn one_line_for_what_came_back_and_one_for_each_problem() {
        let n = note(&[
            r("api", "claude", ReviveOutcome::Resumed),
            r("web", "codex", ReviveOutcome::Resumed),
            r("logs", "shell", ReviveOutcome::Restarted),
            r(
                "old",
                "codex",
                ReviveOutcome::Shell {
                    why: "its working directory /x is gone".into(),
                },
            ),
            r("tail", "tail", ReviveOutcome::Left),
        ]);
        assert_eq!(
            n.lines[0],
            "♻️ revived after restart: api (claude, resumed), web (codex, resumed), logs (shell, restarted), old (codex, as a shell)"
        );
        assert!(n.lines[1].contains("/x is gone"), "{n:?}");
        assert!(n.lines[2].contains("walkie revive tail"), "{n:?}");
        assert_eq!(n.sessions, ["api", "web", "logs", "old"]);
        let n = note(&[r("tail", "tail", ReviveOutcome::Left)]);
        assert!(n.sessions.is_empty());
        assert_eq!(n.lines[0], "♻️ the session host restarted");
    }
}
