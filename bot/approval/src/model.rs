//! The lifecycle of one approval, as a pure state machine: created pending with a deadline,
//! then decided exactly once.
//!
//! Whoever answers first wins: a person on the phone, someone at the terminal (the prompt
//! left the screen), a policy rule, or the deadline (default deny). Every later answer gets
//! [`AlreadyDecided`] carrying the decision that stands, so the bot can say "already approved
//! by ana at 14:02". Time is passed in (milliseconds since the Unix epoch) rather than read,
//! so the rules are testable and the same after a restart: a press that arrives after the
//! deadline loses to the timeout even if the timer has not fired yet. The store keeps the
//! same rule (`UPDATE ... WHERE id = ? AND state = 'pending'`, one row changed or none), so
//! two presses at the same moment still make one decision.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::detect::{Input, Prompt, PromptKind};
use super::hook::{ApprovalRequest, Decision};

/// How long an approval waits before it is denied, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// Now, in [`Millis`]. A clock before 1970 reads as 0.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// An approval's id. Ids must never be reused (an old card's button would decide a new
/// approval): use the store's `AUTOINCREMENT` row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ApprovalId(pub u64);

/// What is being asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Subject {
    /// An agent's hook (`walkie approve-hook`).
    Hook { request: ApprovalRequest },
    /// A prompt seen on the session's screen.
    Screen { prompt: Prompt },
    /// `walkie ask "question"` from a script.
    Ask { question: String },
    /// A sandboxed session's connection to a domain off its allowlist (the session's proxy
    /// holds it until the answer).
    Network {
        host: String,
        port: u16,
        /// The session's sandbox profile ("always" adds the domain to it).
        profile: String,
    },
}

impl Subject {
    /// The shell command asked about, if any.
    pub fn command(&self) -> Option<&str> {
        match self {
            Subject::Hook { request } => request.command.as_deref(),
            Subject::Screen { prompt } => prompt.command.as_deref(),
            Subject::Ask { .. } | Subject::Network { .. } => None,
        }
    }

    /// Whether a prompt seen on the screen is this same request. Codex runs its
    /// `PermissionRequest` hook just before drawing its dialog and Claude Code while showing
    /// it, so with hooks on, one request is seen twice; it must make one card.
    pub fn same_request(&self, prompt: &Prompt) -> bool {
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        match self {
            Subject::Hook { request } => {
                prompt.kind == PromptKind::Agent(request.agent)
                    && match (&request.command, &prompt.command) {
                        (Some(a), Some(b)) => squash(a) == squash(b),
                        // A file tool's dialog shows no command line.
                        (None, None) => true,
                        _ => false,
                    }
            }
            Subject::Screen { prompt: p } => p == prompt,
            Subject::Ask { .. } | Subject::Network { .. } => false,
        }
    }
}

/// An answer someone gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Approve,
    /// Approve, and approve later requests that start the same way (see `policy`); for a
    /// network ask, the domain for the rest of the session.
    ApproveForSession,
    /// A network ask: the domain for the session and, in the profile, for new sessions.
    ApproveAlways,
    Deny,
}

/// Why an approval whose host went away (a restart, a reboot) was closed: its asker was
/// answered no by the dying host, so the card says it expired.
pub const HOST_RESTARTED: &str = "the session host restarted";

/// Who decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Decider {
    /// A Telegram user (already checked against the allowlist by the caller).
    Phone { user_id: i64, name: String },
    /// Someone at the terminal: the prompt left the screen without us.
    Terminal,
    /// The deadline passed.
    Timeout,
    /// A config rule or an earlier "approve for this session".
    Policy { rule: String },
    /// The approval could not be kept (host restarted, session gone).
    Abandoned { reason: String },
}

impl Decider {
    /// For cards: "ana", "the terminal", "timeout", "rule `git status`".
    pub fn describe(&self) -> String {
        match self {
            Decider::Phone { name, user_id } if name.is_empty() => format!("user {user_id}"),
            Decider::Phone { name, .. } => name.clone(),
            Decider::Terminal => "the terminal".into(),
            Decider::Timeout => "timeout".into(),
            Decider::Policy { rule } => format!("rule {rule}"),
            Decider::Abandoned { reason } => reason.clone(),
        }
    }
}

/// The result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    ApprovedForSession,
    /// A network ask's domain, added to the profile.
    ApprovedAlways,
    Denied,
    /// Answered at the terminal; which way is not known.
    AnsweredAtTerminal,
}

impl Outcome {
    pub fn is_approved(self) -> bool {
        matches!(
            self,
            Outcome::Approved | Outcome::ApprovedForSession | Outcome::ApprovedAlways
        )
    }
}

/// A decision that stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub outcome: Outcome,
    pub by: Decider,
    pub at_ms: Millis,
}

impl Decided {
    /// The answer for the agent's hook. A terminal answer needs no hook answer; the hook
    /// process is told to fall back (the agent already has its answer).
    pub fn hook_decision(&self) -> Decision {
        match self.outcome {
            Outcome::Approved | Outcome::ApprovedForSession | Outcome::ApprovedAlways => {
                Decision::Allow
            }
            Outcome::Denied => Decision::Deny {
                reason: match &self.by {
                    Decider::Timeout => {
                        "no answer from the phone in time (walkie denies by default)".into()
                    }
                    by => format!("denied by {} via walkie", by.describe()),
                },
            },
            Outcome::AnsweredAtTerminal => Decision::Fallback,
        }
    }

    /// The answer for the asker of `subject`: a network ask's scope rides along (once is
    /// plain `Allow`), every other asker gets [`Decided::hook_decision`].
    pub fn decision_for(&self, subject: &Subject) -> Decision {
        use walkie_host_proto::ask::NetworkScope;
        match (subject, self.outcome) {
            (Subject::Network { .. }, Outcome::ApprovedForSession) => Decision::AllowNetwork {
                scope: NetworkScope::Session,
            },
            (Subject::Network { .. }, Outcome::ApprovedAlways) => Decision::AllowNetwork {
                scope: NetworkScope::Always,
            },
            // The proxy's 403 says who refused, as the audit log has it (name and id).
            (Subject::Network { .. }, Outcome::Denied) => match &self.by {
                Decider::Phone { user_id, name } if name.is_empty() => Decision::Deny {
                    reason: format!("denied by Telegram user {user_id} via walkie"),
                },
                Decider::Phone { user_id, name } => Decision::Deny {
                    reason: format!("denied by {name} (Telegram user {user_id}) via walkie"),
                },
                _ => self.hook_decision(),
            },
            _ => self.hook_decision(),
        }
    }

    /// What to type into the session for a screen prompt (nothing if it was answered
    /// there already).
    pub fn screen_input(&self, prompt: &Prompt) -> Vec<Input> {
        match self.outcome {
            Outcome::Approved | Outcome::ApprovedForSession | Outcome::ApprovedAlways => {
                prompt.approve.clone()
            }
            Outcome::Denied => prompt.deny.clone(),
            Outcome::AnsweredAtTerminal => Vec::new(),
        }
    }

    /// `walkie ask`'s exit code: 0 approved, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        if self.outcome.is_approved() {
            0
        } else {
            1
        }
    }
}

/// The answer came too late: this decision already stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("already decided: {:?} by {}", .0.outcome, .0.by.describe())]
pub struct AlreadyDecided(pub Decided);

/// Pending, or decided once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Pending,
    Decided(Decided),
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: ApprovalId,
    /// walkie's session name.
    pub session: String,
    pub subject: Subject,
    pub created_ms: Millis,
    pub deadline_ms: Millis,
    pub state: State,
}

impl Approval {
    pub fn new(
        id: ApprovalId,
        session: &str,
        subject: Subject,
        now: Millis,
        timeout: Duration,
    ) -> Approval {
        Approval {
            id,
            session: session.to_string(),
            subject,
            created_ms: now,
            deadline_ms: now.saturating_add(timeout.as_millis() as Millis),
            state: State::Pending,
        }
    }

    pub fn decided(&self) -> Option<&Decided> {
        match &self.state {
            State::Decided(d) => Some(d),
            State::Pending => None,
        }
    }

    /// Time left before the default deny (zero once passed or decided).
    pub fn remaining(&self, now: Millis) -> Duration {
        match self.state {
            State::Pending => Duration::from_millis(self.deadline_ms.saturating_sub(now)),
            State::Decided(_) => Duration::ZERO,
        }
    }

    /// Applies the timeout if the deadline has passed; returns the decision if this call
    /// made it.
    pub fn expire(&mut self, now: Millis) -> Option<Decided> {
        if self.state == State::Pending && now >= self.deadline_ms {
            let d = Decided {
                outcome: Outcome::Denied,
                by: Decider::Timeout,
                at_ms: self.deadline_ms,
            };
            self.state = State::Decided(d.clone());
            return Some(d);
        }
        None
    }

    /// Records `answer` by `by`, unless a decision already stands (or the deadline passed
    /// before `now`, in which case the timeout stands).
    pub fn decide(
        &mut self,
        answer: Answer,
        by: Decider,
        now: Millis,
    ) -> Result<Decided, AlreadyDecided> {
        let outcome = match answer {
            Answer::Approve => Outcome::Approved,
            Answer::ApproveForSession => Outcome::ApprovedForSession,
            Answer::ApproveAlways => Outcome::ApprovedAlways,
            Answer::Deny => Outcome::Denied,
        };
        self.settle(outcome, by, now)
    }

    /// The prompt left the screen before anyone answered here.
    pub fn answered_at_terminal(&mut self, now: Millis) -> Result<Decided, AlreadyDecided> {
        self.settle(Outcome::AnsweredAtTerminal, Decider::Terminal, now)
    }

    /// The approval cannot be kept (host restarted, session gone): denied.
    pub fn abandon(&mut self, reason: &str, now: Millis) -> Result<Decided, AlreadyDecided> {
        self.settle(
            Outcome::Denied,
            Decider::Abandoned {
                reason: reason.to_string(),
            },
            now,
        )
    }

    fn settle(
        &mut self,
        outcome: Outcome,
        by: Decider,
        now: Millis,
    ) -> Result<Decided, AlreadyDecided> {
        self.expire(now);
        if let State::Decided(d) = &self.state {
            return Err(AlreadyDecided(d.clone()));
        }
        let d = Decided {
            outcome,
            by,
            at_ms: now,
        };
        self.state = State::Decided(d.clone());
        Ok(d)
    }
}

/// What a card's button does, as a typed action; each front end encodes it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalAction {
    Approve,
    ApproveForSession,
    /// A network card's "Always".
    ApproveAlways,
    Deny,
    /// Show the session's screen (decides nothing).
    Screen,
    /// The n-th choice of an agent's dialog card (not an approval: see `dialog`).
    Choose(u8),
}

impl ApprovalAction {
    /// The answer this button gives, if it decides.
    pub fn answer(self) -> Option<Answer> {
        match self {
            ApprovalAction::Approve => Some(Answer::Approve),
            ApprovalAction::ApproveForSession => Some(Answer::ApproveForSession),
            ApprovalAction::ApproveAlways => Some(Answer::ApproveAlways),
            ApprovalAction::Deny => Some(Answer::Deny),
            ApprovalAction::Screen | ApprovalAction::Choose(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_795_360_000_000;

    fn ask(id: u64) -> Approval {
        Approval::new(
            ApprovalId(id),
            "backend",
            Subject::Ask {
                question: "deploy?".into(),
            },
            T0,
            DEFAULT_TIMEOUT,
        )
    }

    fn ana() -> Decider {
        Decider::Phone {
            user_id: 42,
            name: "ana".into(),
        }
    }

    #[test]
    fn first_answer_wins_and_later_ones_are_told() {
        let mut a = ask(1);
        assert_eq!(a.remaining(T0), Duration::from_secs(600));
        let d = a.decide(Answer::Approve, ana(), T0 + 5_000).unwrap();
        assert_eq!(
            d,
            Decided {
                outcome: Outcome::Approved,
                by: ana(),
                at_ms: T0 + 5_000
            }
        );
        // A repeated press, a different button, the terminal, the timeout: all too late.
        assert_eq!(
            a.decide(Answer::Approve, ana(), T0 + 6_000),
            Err(AlreadyDecided(d.clone()))
        );
        assert_eq!(
            a.decide(Answer::Deny, ana(), T0 + 6_000),
            Err(AlreadyDecided(d.clone()))
        );
        assert_eq!(
            a.answered_at_terminal(T0 + 7_000),
            Err(AlreadyDecided(d.clone()))
        );
        assert_eq!(a.expire(T0 + 3_600_000), None);
        assert_eq!(a.decided(), Some(&d));
        assert_eq!(a.remaining(T0 + 6_000), Duration::ZERO);
        assert_eq!(d.exit_code(), 0);
        assert_eq!(d.hook_decision(), Decision::Allow);
    }

    #[test]
    fn timeout_denies_by_default_and_beats_late_presses() {
        let mut a = ask(1);
        assert_eq!(a.expire(T0 + 599_999), None);
        // The press arrives after the deadline, before any timer fired: the timeout stands,
        // dated at the deadline.
        let err = a.decide(Answer::Approve, ana(), T0 + 600_001).unwrap_err();
        assert_eq!(
            err.0,
            Decided {
                outcome: Outcome::Denied,
                by: Decider::Timeout,
                at_ms: T0 + 600_000
            }
        );
        assert_eq!(err.0.exit_code(), 1);
        assert!(
            matches!(err.0.hook_decision(), Decision::Deny { reason } if reason.contains("in time"))
        );
        // Exactly at the deadline the timeout wins too.
        let mut b = ask(2);
        assert!(b.decide(Answer::Approve, ana(), T0 + 600_000).is_err());
    }

    #[test]
    fn outcomes_map_to_agent_answers() {
        let prompt =
            crate::detect::detect_text(&crate::detect::ScreenText::from_text("Overwrite? [y/N]"))
                .unwrap();
        let mut a = Approval::new(
            ApprovalId(3),
            "s",
            Subject::Screen {
                prompt: prompt.clone(),
            },
            T0,
            DEFAULT_TIMEOUT,
        );
        let d = a.decide(Answer::ApproveForSession, ana(), T0).unwrap();
        assert_eq!(d.screen_input(&prompt), prompt.approve);
        let deny = Decided {
            outcome: Outcome::Denied,
            by: ana(),
            at_ms: T0,
        };
        assert_eq!(deny.screen_input(&prompt), prompt.deny);
        assert_eq!(
            deny.hook_decision(),
            Decision::Deny {
                reason: "denied by ana via walkie".into()
            }
        );
        // A network ask's refusal names the user as the audit log does, name and id.
        let net = Subject::Network {
            host: "pypi.org".into(),
            port: 443,
            profile: "workspace".into(),
        };
        assert_eq!(
            deny.decision_for(&net),
            Decision::Deny {
                reason: "denied by ana (Telegram user 42) via walkie".into()
            }
        );
        let mut t = ask(4);
        let d = t.answered_at_terminal(T0 + 1).unwrap();
        assert_eq!(d.by, Decider::Terminal);
        assert!(d.screen_input(&prompt).is_empty());
        assert_eq!(d.hook_decision(), Decision::Fallback);
        let mut g = ask(5);
        let d = g.abandon("the host restarted", T0 + 2).unwrap();
        assert_eq!(d.outcome, Outcome::Denied);
        assert_eq!(d.exit_code(), 1);
        assert!(matches!(d.hook_decision(), Decision::Deny { .. }));
    }

    #[test]
    fn approvals_survive_serialisation() {
        // The store keeps approvals as JSON; a restored one behaves the same.
        let mut a = ask(77);
        let restored: Approval = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(restored, a);
        a.decide(Answer::Deny, ana(), T0 + 1).unwrap();
        let mut restored: Approval =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert!(restored.decide(Answer::Approve, ana(), T0 + 2).is_err());
    }

    #[test]
    fn a_hook_request_and_its_dialog_are_one_request() {
        use crate::detect::{detect_text, ScreenText};
        use crate::fixture;
        use crate::hook::{parse, HookEvent, HookInput};
        let screen = |f: &str| {
            detect_text(&ScreenText::from_text(
                &String::from_utf8(fixture(f)).unwrap(),
            ))
            .unwrap()
        };
        let claude = screen("claude-approval.txt");
        let codex = screen("codex-approval.txt");
        let hook = |f: &str| {
            let text = String::from_utf8(fixture(f)).unwrap();
            text.lines()
                .find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    match parse(&v["stdin"].to_string(), None).ok()? {
                        HookInput::Approval(r) if r.event == HookEvent::PermissionRequest => {
                            Some(Subject::Hook { request: r })
                        }
                        _ => None,
                    }
                })
                .unwrap()
        };
        let claude_hook = hook("claude-hooks.jsonl");
        let codex_hook = hook("codex-hooks.jsonl");
        assert!(claude_hook.same_request(&claude));
        assert!(codex_hook.same_request(&codex));
        // Another agent, or another command: not the same.
        assert!(!claude_hook.same_request(&codex));
        assert!(!codex_hook.same_request(&claude));
        let mut other = codex.clone();
        other.command = Some("touch /tmp/other".into());
        assert!(!codex_hook.same_request(&other));
        assert_eq!(
            claude_hook.command(),
            Some("touch /tmp/agent-approved-demo")
        );
        let s = Subject::Screen {
            prompt: codex.clone(),
        };
        assert!(s.same_request(&codex));
        assert!(!s.same_request(&other));
        assert!(!Subject::Ask {
            question: "q".into()
        }
        .same_request(&codex));
    }
}
