//! Telegram as the console's front end ([`Frontend`]): Telegram's id rules, cards as HTML
//! with inline keyboards ([`crate::card`]), paced sends and edits ([`crate::tg`]), and
//! presses of card buttons decoded for the desk, and the console's answers ([`View`]s,
//! rendered by [`crate::views`]).

use std::sync::Arc;

use teloxide::types::CallbackQuery;
use walkie_approval::card::Card;
use walkie_console::desk::{Desk, Press};
use walkie_console::fleet::Fleet;
use walkie_console::front::{ChatId, FrontError, Frontend, MessageRef, PressRef, UserId};
use walkie_console::requests::{Console, View};

use crate::app::HandleError;
use crate::card::{decode_callback, html, markup};
use crate::live::LiveScreens;
use crate::render::{escape_html, render_live, utf16_len};
use crate::tg::{Tg, TgError};
use crate::views::{render, Rendered};

/// The desk as the bot runs it: Telegram in front, the real host link behind.
pub(crate) type TelegramDesk = Desk<TelegramFront, Fleet>;

/// The console's requests as the bot runs them.
pub(crate) type TelegramConsole = Console<TelegramFront, Fleet>;

/// Telegram, for the console: sends through the paced client, and tells the live screens
/// when an agent ended its turn.
#[derive(Clone)]
pub(crate) struct TelegramFront {
    pub(crate) tg: Tg,
    pub(crate) live: Arc<LiveScreens>,
    /// Live pictures (`/watch`).
    pub(crate) pictures: Arc<crate::pictures::LivePictures>,
}

/// Telegram takes documents up to 50 MB from bots (Bot API sendDocument).
pub(crate) const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

fn front_error(e: TgError) -> FrontError {
    FrontError(e.to_string())
}

/// Telegram's message ids are `i32`s; the store keeps them as `i64`.
fn message_id(m: MessageRef) -> Result<i32, FrontError> {
    i32::try_from(m.0).map_err(|_| FrontError(format!("message id {} is not Telegram's", m.0)))
}

impl Frontend for TelegramFront {
    /// A private chat's id is its user's id.
    fn private_chat(&self, user: UserId) -> ChatId {
        ChatId(user.0)
    }

    /// Groups have negative ids.
    fn private_user(&self, chat: ChatId) -> Option<UserId> {
        (chat.0 >= 0).then_some(UserId(chat.0))
    }

    async fn post_card(
        &self,
        chat: ChatId,
        card: &Card,
        silent: bool,
    ) -> Result<MessageRef, FrontError> {
        let m = self
            .tg
            .send_card(chat.0, &html(card), markup(card), silent)
            .await
            .map_err(front_error)?;
        Ok(MessageRef(i64::from(m.id.0)))
    }

    async fn edit_card(
        &self,
        chat: ChatId,
        message: MessageRef,
        card: &Card,
    ) -> Result<(), FrontError> {
        self.tg
            .edit_html(chat.0, message_id(message)?, &html(card), markup(card))
            .await
            .map_err(front_error)
    }

    async fn answer_press(&self, press: &PressRef, toast: Option<&str>) -> Result<(), FrontError> {
        self.tg
            .answer_callback(&press.0, toast)
            .await
            .map_err(front_error)
    }

    async fn notice(
        &self,
        chat: ChatId,
        session: &str,
        text: &str,
        silent: bool,
    ) -> Result<(), FrontError> {
        let html = format!("✅ <b>{}</b> {}", escape_html(session), escape_html(text));
        self.tg
            .send_card(chat.0, &html, None, silent)
            .await
            .map(|_| ())
            .map_err(front_error)
    }

    async fn note(&self, chat: ChatId, text: &str, silent: bool) -> Result<MessageRef, FrontError> {
        let m = self
            .tg
            .send_card(chat.0, &escape_html(text), None, silent)
            .await
            .map_err(front_error)?;
        Ok(MessageRef(i64::from(m.id.0)))
    }

    async fn revived(
        &self,
        chat: ChatId,
        note: &walkie_console::revival::RevivalNote,
        buttons: bool,
    ) -> Result<(), FrontError> {
        let (html, markup) = crate::revived::render(note, buttons, crate::views::USE_PREFIX);
        self.tg
            .send_card(chat.0, &html, markup, false)
            .await
            .map(|_| ())
            .map_err(front_error)
    }

    async fn show_screen(
        &self,
        chat: ChatId,
        session: &str,
        screen: &str,
    ) -> Result<MessageRef, FrontError> {
        let html = render_live(
            Some(&format!("<b>{}</b>", escape_html(session))),
            utf16_len(session),
            screen,
        );
        let picture = crate::views::picture_button(session);
        let m = self
            .tg
            .send_html(chat.0, &html, Some(picture), None)
            .await
            .map_err(front_error)?;
        Ok(MessageRef(i64::from(m.id.0)))
    }

    fn turn_over(&self, session: &str) {
        self.live.turn_over(session);
    }

    async fn show(&self, chat: ChatId, view: &View) -> Result<MessageRef, FrontError> {
        let sent = match render(view) {
            // A job's card and the zone question before it are answered by buttons: they
            // are delivered (retried after a transient failure), as approval cards are.
            Rendered::Html(html, markup)
                if matches!(view, View::ScheduleDraft(_) | View::ScheduleZone(_)) =>
            {
                self.tg.send_card(chat.0, &html, markup, false).await
            }
            Rendered::Text(t) => self.tg.send_plain(chat.0, &t).await,
            Rendered::Html(html, markup) => self.tg.send_html(chat.0, &html, markup, None).await,
            Rendered::File(file) => match self.tg.deliver_document(chat.0, &file).await {
                Ok(Some(m)) => Ok(m),
                // Being delivered by a task of its own (the chat is told if it fails).
                Ok(None) => {
                    return Err(FrontError(format!(
                        "{} is being sent again in the background",
                        file.file_name
                    )))
                }
                Err(e) => Err(e),
            },
        };
        let m = sent.map_err(front_error)?;
        self.live.saw_message(chat.0);
        Ok(MessageRef(i64::from(m.id.0)))
    }

    async fn edit_view(
        &self,
        chat: ChatId,
        message: MessageRef,
        view: &View,
    ) -> Result<(), FrontError> {
        let (html, markup) = match render(view) {
            Rendered::Text(t) => (escape_html(&t), None),
            Rendered::Html(html, markup) => (html, markup),
            // A text message cannot become a document (Telegram edits media only in media
            // messages); no view edited in place is a file.
            Rendered::File(_) => return Err(FrontError("a file cannot replace a message".into())),
        };
        let id = i32::try_from(message.0).map_err(|_| FrontError("bad message id".into()))?;
        self.tg
            .edit_html(chat.0, id, &html, markup)
            .await
            .map_err(front_error)
    }

    fn watch(&self, chat: ChatId, session: &str) {
        self.live.set_focus(chat.0, session);
        self.live.ensure(chat.0, session);
    }

    fn watch_picture(&self, chat: ChatId, session: &str) {
        self.pictures.start(chat.0, session);
    }

    fn max_file_bytes(&self) -> u64 {
        MAX_UPLOAD_BYTES
    }
}

/// A press of an approval card's button in `chat`, `data` its `callback_data`.
pub(crate) async fn press(
    desk: &TelegramDesk,
    q: &CallbackQuery,
    chat: i64,
    data: &str,
) -> Result<(), HandleError> {
    let Some((id, action)) = decode_callback(data) else {
        desk.front
            .tg
            .answer_callback(&q.id.0, Some("This button no longer works."))
            .await?;
        return Ok(());
    };
    let name = q
        .from
        .username
        .clone()
        .unwrap_or_else(|| q.from.first_name.clone());
    let p = Press {
        chat: ChatId(chat),
        user: UserId(q.from.id.0 as i64),
        name,
        press: PressRef(q.id.0.clone()),
        id,
        action,
        raw: data.into(),
    };
    desk.on_press(&p).await?;
    if let Some(m) = &q.message {
        // A second copy of a card (posted again after a lost answer) closes when pressed.
        desk.close_copy(ChatId(chat), MessageRef(i64::from(m.id().0)), id)
            .await;
    }
    Ok(())
}
