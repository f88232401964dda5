//! Posting an approval's cards: to every target chat at once (one chat's retries never
//! hold up another's card), each delivered by the front end (which tries again after
//! transient failures). A chat that cannot get its card is never silently waited out:
//! the error is logged, and every other chat that can be told (the chats that got the
//! card, and the operators' private chats) gets a warning; an operator's chat that had no
//! card gets the card too, so someone can decide.
//!
//! A card whose answer was lost may still have been posted, so a retry can leave two
//! copies in a chat: at least once, never silence. Both carry the same buttons and the
//! first press decides; the copy whose id came back is edited to the outcome, the other
//! when it is pressed ([`Desk::close_copy`]).

use futures::future::join_all;
use walkie_approval::card::{self, Block, Card, Span};
use walkie_approval::model::{Approval, ApprovalId, State};

use super::{notify_level, Desk};
use crate::approval_store::ApprovalCard;
use crate::front::{ChatId, FrontError, Frontend, MessageRef, UserId};
use crate::host::Host;
use crate::session::SessionRef;
use walkie_config::NotifyLevel;

impl<F: Frontend, H: Host> Desk<F, H> {
    /// Posts the cards of the new approval `a` (see the module docs).
    pub(super) async fn post_cards(&self, a: &Approval) {
        let targets = self.targets(&a.session).await;
        let results = join_all(
            targets
                .iter()
                .map(|&(chat, buttons)| self.post_card_to(a, chat, buttons)),
        )
        .await;
        let failed: Vec<(ChatId, FrontError)> = targets
            .iter()
            .zip(results)
            .filter_map(|(&(chat, _), r)| r.err().map(|e| (chat, e)))
            .collect();
        if !failed.is_empty() {
            self.report_unposted(a, &targets, &failed).await;
        }
    }

    /// One card of `a` in `chat`, stored so that it is edited to the outcome.
    async fn post_card_to(
        &self,
        a: &Approval,
        chat: ChatId,
        buttons: bool,
    ) -> Result<(), FrontError> {
        let c = card::pending(a, buttons);
        // A chat that chose /notify none gets its cards silently.
        let silent = notify_level(&self.store, &self.cfg, chat).await == NotifyLevel::None;
        let message = self.front.post_card(chat, &c, silent).await?;
        let stored = ApprovalCard {
            chat,
            message,
            buttons,
        };
        if let Err(e) = self.store.add_approval_card(a.id, stored).await {
            tracing::error!(error = %e, "cannot store an approval card");
        }
        // Replying to the card goes to the session, like its other messages.
        let _ = self
            .store
            .remember_message(chat, message, &SessionRef::address(&a.session))
            .await;
        // Decided (in another chat) while this card was on its way: it shows the outcome.
        if let Ok(Some(now)) = self.store.approval(a.id).await {
            if now.state != State::Pending {
                let shown = card::decided(&now);
                if let Err(e) = self.front.edit_card(chat, message, &shown).await {
                    tracing::warn!(chat = chat.0, error = %e, "cannot update an approval card");
                }
            }
        }
        Ok(())
    }

    /// Tells the chats that can be told that `failed` got no card of `a`.
    async fn report_unposted(
        &self,
        a: &Approval,
        targets: &[(ChatId, bool)],
        failed: &[(ChatId, FrontError)],
    ) {
        for (chat, e) in failed {
            tracing::error!(chat = chat.0, session = %a.session, id = a.id.0, error = %e, "could not post an approval card");
        }
        let is_failed = |c: ChatId| failed.iter().any(|(f, _)| *f == c);
        // The chats that got the card, then the operators' private chats.
        let mut tell: Vec<(ChatId, bool)> = targets
            .iter()
            .filter(|(c, _)| !is_failed(*c))
            .map(|&(c, _)| (c, true))
            .collect();
        for u in &self.cfg.telegram.allowed_users {
            let c = self.front.private_chat(UserId(*u));
            if !is_failed(c) && !tell.iter().any(|(t, _)| *t == c) {
                tell.push((c, false));
            }
        }
        if tell.is_empty() {
            tracing::error!(session = %a.session, id = a.id.0, "no chat can be told that an approval card could not be posted");
            return;
        }
        let chats: Vec<String> = failed
            .iter()
            .map(|(c, _)| format!("chat {}", c.0))
            .collect();
        let why = &failed[0].1;
        for (chat, has_card) in tell {
            let then = if has_card {
                "; it waits for a decision here."
            } else {
                "; decide it here."
            };
            let warning = Card {
                blocks: vec![Block::Line(vec![
                    Span::Plain("⚠️ Could not post the approval card for ".into()),
                    Span::Strong(a.session.clone()),
                    Span::Plain(format!(" to {} ({why}){then}", chats.join(", "))),
                ])],
                buttons: Vec::new(),
            };
            if let Err(e) = self.front.post_card(chat, &warning, false).await {
                tracing::error!(chat = chat.0, error = %e, "cannot report an unposted approval card");
                continue;
            }
            if !has_card {
                if let Err(e) = self.post_card_to(a, chat, true).await {
                    tracing::error!(chat = chat.0, error = %e, "could not post an approval card");
                }
            }
        }
    }

    /// A press on message `message` in `chat`, for approval `id`: if that message is a copy
    /// of the card the desk does not know (its first answer was lost, and the card was
    /// posted again), it shows the outcome too once the approval is decided.
    pub async fn close_copy(&self, chat: ChatId, message: MessageRef, id: ApprovalId) {
        let Ok(Some(a)) = self.store.approval(id).await else {
            return;
        };
        if a.state == State::Pending {
            return;
        }
        let Ok(cards) = self.store.approval_cards(id).await else {
            return;
        };
        if cards.iter().any(|c| c.chat == chat && c.message == message) {
            return;
        }
        tracing::info!(
            chat = chat.0,
            message = message.0,
            id = id.0,
            "closing a second copy of a card"
        );
        if let Err(e) = self
            .front
            .edit_card(chat, message, &card::decided(&a))
            .await
        {
            tracing::warn!(chat = chat.0, error = %e, "cannot update a copy of an approval card");
        }
    }
}
