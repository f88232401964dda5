//! Who may do what: operators (the allowlist) act, viewers only look, strangers get
//! nothing done.
//!
//! The decision is a pure function of the configured lists and, for strangers, of when
//! they were last answered (kept in the store so that a restart does not reset it): a
//! stranger gets at most one short refusal per hour and nothing else. Every refusal,
//! answered or silent, is written to the audit log by the caller.

use std::collections::HashSet;
use std::time::Duration;

use walkie_config::TelegramConfig;

use crate::front::UserId;

/// How often a stranger may be told they are refused.
pub const REFUSAL_INTERVAL: Duration = Duration::from_secs(3600);

/// The one reply a stranger can get.
pub const REFUSAL_TEXT: &str = "This is a private bot.";

/// The reply to a viewer who tries to act.
pub const VIEWER_TEXT: &str = "You can look (/ls, /screen, /tail) but not type, kill or approve.";

/// What a user is to this bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// On the allowlist: may do everything.
    Operator,
    /// Read-only: screens and lists.
    Viewer,
    /// Anyone else.
    Stranger,
}

/// What an update wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See screens, lists, help.
    Read,
    /// Type, create, kill, pause, press buttons that change something.
    Act,
}

/// The gate's verdict on one update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused. `reply` is the text to answer with, if any (strangers mostly get none).
    Refuse {
        reply: Option<&'static str>,
    },
}

/// The configured lists.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    operators: HashSet<UserId>,
    viewers: HashSet<UserId>,
}

impl Gate {
    /// From the configured ids (the front end's own numbers for people).
    pub fn new(
        operators: impl IntoIterator<Item = i64>,
        viewers: impl IntoIterator<Item = i64>,
    ) -> Self {
        Gate {
            operators: operators.into_iter().map(UserId).collect(),
            viewers: viewers.into_iter().map(UserId).collect(),
        }
    }

    pub fn from_config(cfg: &TelegramConfig) -> Self {
        Gate::new(
            cfg.allowed_users.iter().copied(),
            cfg.viewers.iter().copied(),
        )
    }

    pub fn role(&self, user: UserId) -> Role {
        if self.operators.contains(&user) {
            Role::Operator
        } else if self.viewers.contains(&user) {
            Role::Viewer
        } else {
            Role::Stranger
        }
    }

    /// Decides one update. `last_answered` is how long ago this user was last sent a
    /// refusal (`None`: never); only strangers need it.
    pub fn check(&self, user: UserId, action: Action, last_answered: Option<Duration>) -> Verdict {
        match (self.role(user), action) {
            (Role::Operator, _) | (Role::Viewer, Action::Read) => Verdict::Allow,
            (Role::Viewer, Action::Act) => Verdict::Refuse {
                reply: Some(VIEWER_TEXT),
            },
            (Role::Stranger, _) => {
                let due = last_answered.is_none_or(|ago| ago >= REFUSAL_INTERVAL);
                Verdict::Refuse {
                    reply: due.then_some(REFUSAL_TEXT),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new([1, 2], [10])
    }

    #[test]
    fn operators_do_everything() {
        assert_eq!(gate().check(UserId(1), Action::Act, None), Verdict::Allow);
        assert_eq!(gate().check(UserId(2), Action::Read, None), Verdict::Allow);
    }

    #[test]
    fn viewers_only_read() {
        assert_eq!(gate().check(UserId(10), Action::Read, None), Verdict::Allow);
        assert_eq!(
            gate().check(UserId(10), Action::Act, None),
            Verdict::Refuse {
                reply: Some(VIEWER_TEXT)
            }
        );
    }

    #[test]
    fn strangers_get_one_short_refusal_per_hour() {
        let g = gate();
        assert_eq!(g.role(UserId(99)), Role::Stranger);
        assert_eq!(
            g.check(UserId(99), Action::Read, None),
            Verdict::Refuse {
                reply: Some(REFUSAL_TEXT)
            }
        );
        let minute = Duration::from_secs(60);
        assert_eq!(
            g.check(UserId(99), Action::Read, Some(minute)),
            Verdict::Refuse { reply: None }
        );
        assert_eq!(
            g.check(UserId(99), Action::Act, Some(59 * minute)),
            Verdict::Refuse { reply: None }
        );
        assert_eq!(
            g.check(UserId(99), Action::Act, Some(60 * minute)),
            Verdict::Refuse {
                reply: Some(REFUSAL_TEXT)
            }
        );
        assert!(
            REFUSAL_TEXT.len() < 40,
            "short, and says nothing about what the bot does"
        );
    }

    #[test]
    fn built_from_config() {
        let cfg = TelegramConfig {
            allowed_users: vec![5],
            viewers: vec![6],
            ..TelegramConfig::default()
        };
        let g = Gate::from_config(&cfg);
        assert_eq!(
            (g.role(UserId(5)), g.role(UserId(6)), g.role(UserId(7))),
            (Role::Operator, Role::Viewer, Role::Stranger)
        );
    }
}
