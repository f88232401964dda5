//! What the console needs to know of a chat front end, and the decisions it makes with it.
//!
//! Chat and user references are opaque here: the console never looks inside them (no sign
//! checks, no "a private chat's id is its user's id"); the front end answers such questions
//! through [`Frontend`].
//!
//! The trait is used through generics. Its id rules are plain functions; its sends return
//! `impl Future + Send` (native async functions in traits): the desk runs in a spawned task,
//! so its futures must be `Send`, and with generics instead of `dyn` no `async-trait` is
//! needed.

use std::future::Future;

use walkie_approval::card::Card;

use crate::gate::{Gate, Role};
use crate::requests::View;
use crate::revival::RevivalNote;

/// A chat, as the front end names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChatId(pub i64);

/// A person, as the front end names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

/// A message the front end posted, as it names it (to edit it later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageRef(pub i64);

/// A button press waiting for its answer (the small toast), as the front end names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PressRef(pub String);

/// A send or edit the chat service refused or never answered; its text is safe to log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FrontError(pub String);

/// A chat service, as far as the console needs one.
pub trait Frontend: Send + Sync + 'static {
    /// The private chat with `user`.
    fn private_chat(&self, user: UserId) -> ChatId;
    /// The person a private chat is with; `None` for a group, where presses are checked
    /// per user.
    fn private_user(&self, chat: ChatId) -> Option<UserId>;

    /// Posts `card` as a new message (with its buttons, if it has any); `silent` without a
    /// notification sound.
    fn post_card(
        &self,
        chat: ChatId,
        card: &Card,
        silent: bool,
    ) -> impl Future<Output = Result<MessageRef, FrontError>> + Send;

    /// Shows `card` in place of the message `message` (buttons as the card has them).
    fn edit_card(
        &self,
        chat: ChatId,
        message: MessageRef,
        card: &Card,
    ) -> impl Future<Output = Result<(), FrontError>> + Send;

    /// Answers a press, with a short toast or none.
    fn answer_press(
        &self,
        press: &PressRef,
        toast: Option<&str>,
    ) -> impl Future<Output = Result<(), FrontError>> + Send;

    /// A one-line notice about `session` (an agent's own report of its turn).
    fn notice(
        &self,
        chat: ChatId,
        session: &str,
        text: &str,
        silent: bool,
    ) -> impl Future<Output = Result<(), FrontError>> + Send;

    /// A short plain message (a scheduled run's), delivered with retries; `silent` without
    /// a notification sound.
    fn note(
        &self,
        chat: ChatId,
        text: &str,
        silent: bool,
    ) -> impl Future<Output = Result<MessageRef, FrontError>> + Send;

    /// What came back after a host restart, as a new message; with `buttons`, a screen and
    /// a kill button per session.
    fn revived(
        &self,
        chat: ChatId,
        note: &RevivalNote,
        buttons: bool,
    ) -> impl Future<Output = Result<(), FrontError>> + Send;

    /// The session's screen as a new message.
    fn show_screen(
        &self,
        chat: ChatId,
        session: &str,
        screen: &str,
    ) -> impl Future<Output = Result<MessageRef, FrontError>> + Send;

    /// The agent in `session` said its turn is over, so no "went quiet" should repeat it.
    fn turn_over(&self, session: &str);

    /// Shows a request's answer as a new message (rendered as the front end sees fit).
    fn show(
        &self,
        chat: ChatId,
        view: &View,
    ) -> impl Future<Output = Result<MessageRef, FrontError>> + Send;

    /// Keeps `session`'s live screen in `chat` going (starting it if needed), refreshed now.
    fn watch(&self, chat: ChatId, session: &str);
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
        let buttons = match front.private_user(chat).map(|u| gate.role(u)) {
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

    use crate::testing::InMemory;

    const OPERATOR: i64 = 1;
    const VIEWER: i64 = 2;
    const STRANGER: i64 = 3;

    fn gate() -> Gate {
        Gate::new([OPERATOR], [VIEWER])
    }

    #[test]
    fn cards_go_to_the_operators_and_viewers_when_no_chat_works_with_the_session() {
        let to = card_targets(
            &InMemory::default(),
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
        let to = card_targets(&InMemory::default(), &gate(), &working, &[UserId(OPERATOR)]);
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
