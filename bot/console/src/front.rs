//! What the console needs to know of a chat front end, and the decisions it makes with it.
//!
//! Chat and user references are opaque here: the console never looks inside them (no sign
//! checks, no "a private chat's id is its user's id"); the front end answers such questions
//! through [`Frontend`].
//!
//! The trait is synchronous and used through generics: its answers are pure functions of
//! the ids, so it needs neither `async fn` nor `dyn` (and so no `async-trait`).

use crate::gate::{Gate, Role};

/// A chat, as the front end names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChatId(pub i64);

/// A person, as the front end names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

/// Where things go on a chat service.
pub trait Frontend {
    /// The private chat with `user`.
    fn private_chat(&self, user: UserId) -> ChatId;
    /// The person a private chat is with; `None` for a group, where presses are checked
    /// per user.
    fn private_user(&self, chat: ChatId) -> Option<UserId>;
}

/// The chats an approval card goes to, each with whether its copy carries buttons: the
/// chats that work with the session (`working`), else the private chats of `recipients`
/// (operators and viewers). Only operators get buttons in a private chat; viewers get the
/// card without them, strangers' private chats get nothing. Each chat once, in order.
pub fn card_targets(
    front: &impl Frontend,
    gate: &Gate,
    working: &[ChatId],
    recipients: &[UserId],
) -> Vec<(ChatId, bool)> {
    let chats: Vec<ChatId> = if working.is_empty() {
        recipients.iter().map(|u| front.private_chat(*u)).collect()
    } else {
        working.to_vec()
    };
    let mut out: Vec<(ChatId, bool)> = Vec::new();
    for chat in chats {
        if out.iter().any(|(c, _)| *c == chat) {
            continue;
        }
        let buttons = match front.private_user(chat).map(|u| gate.role(u.0)) {
            None | Some(Role::Operator) => true,
            Some(Role::Viewer) => false,
            Some(Role::Stranger) => continue,
        };
        out.push((chat, buttons));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A front end whose private chats are numbered 100 + the user, and groups below 0.
    struct InMemory;

    impl Frontend for InMemory {
        fn private_chat(&self, user: UserId) -> ChatId {
            ChatId(100 + user.0)
        }
        fn private_user(&self, chat: ChatId) -> Option<UserId> {
            (chat.0 >= 100).then(|| UserId(chat.0 - 100))
        }
    }

    const OPERATOR: i64 = 1;
    const VIEWER: i64 = 2;
    const STRANGER: i64 = 3;

    fn gate() -> Gate {
        Gate::new([OPERATOR], [VIEWER])
    }

    #[test]
    fn cards_go_to_the_operators_and_viewers_when_no_chat_works_with_the_session() {
        let to = card_targets(
            &InMemory,
            &gate(),
            &[],
            &[UserId(OPERATOR), UserId(VIEWER), UserId(OPERATOR)],
        );
        assert_eq!(to, [(ChatId(101), true), (ChatId(102), false)]);
    }

    #[test]
    fn cards_go_to_the_chats_that_work_with_the_session() {
        let working = [
            ChatId(-5),
            ChatId(102),
            ChatId(103),
            ChatId(-5),
            ChatId(101),
        ];
        let to = card_targets(&InMemory, &gate(), &working, &[UserId(OPERATOR)]);
        // A group gets buttons (presses are checked per user there); a viewer's private
        // chat gets none; a stranger's private chat gets nothing.
        assert_eq!(
            to,
            [
                (ChatId(-5), true),
                (ChatId(102), false),
                (ChatId(101), true)
            ]
        );
        assert!(!to.iter().any(|(c, _)| *c == ChatId(100 + STRANGER)));
    }
}
