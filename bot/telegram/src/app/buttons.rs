//! Which handler a button press goes to: one table ([`BUTTONS`]) from the callback data's
//! prefix to its handler, and whether only operators may press it. Prefixes are disjoint
//! (no one is the start of another; tested), so the table's order does not matter. A new
//! kind of button is one line here and a handler taking a [`Press`] and the data after
//! its prefix.

use std::future::Future;
use std::pin::Pin;

use teloxide::types::CallbackQuery;
use walkie_console::front::ChatId;
use walkie_console::host::Host;
use walkie_console::session::SessionRef;

use super::{App, HandleError};
use crate::dashboard::DASH_PREFIX;
use crate::pictures::{KEY_PREFIX, STOP_PREFIX};
use crate::views::{
    BOUNDARY_PREFIX, DIR_PREFIX, DRAFT_PREFIX, HOSTKEY_PREFIX, JOB_PREFIX, OUTBOX_PREFIX,
    PICTURE_PREFIX, USE_PREFIX, ZONE_PREFIX,
};

/// A button press being handled: who pressed, in which chat, the query (to answer it) and
/// its callback data.
pub(super) struct Press<'a> {
    pub(super) user: i64,
    pub(super) chat: i64,
    pub(super) q: &'a CallbackQuery,
    pub(super) data: &'a str,
}

impl Press<'_> {
    /// The query's id, to answer it.
    pub(super) fn id(&self) -> &str {
        &self.q.id.0
    }

    /// The message the pressed button sits on (Telegram leaves it out only for very old
    /// messages).
    pub(super) fn message(&self) -> Option<i32> {
        self.q.message.as_ref().map(|m| m.id().0)
    }
}

type Done<'a> = Pin<Box<dyn Future<Output = Result<(), HandleError>> + Send + 'a>>;

/// A handler: the press, and its data after the prefix.
type Handler = for<'a> fn(&'a App, &'a Press<'a>, &'a str) -> Done<'a>;

/// One kind of button.
pub(super) struct Button {
    /// Its callback data starts with one of these.
    pub(super) prefixes: &'static [&'static str],
    /// `Some(what)`: operators only; a viewer's press is answered with the viewers' text and
    /// audited as "viewer pressed {what}" before the handler sees it. `None`: anyone who may
    /// read (or the handler decides).
    pub(super) operators: Option<&'static str>,
    pub(super) handle: Handler,
}

/// Every button but the approval cards' (the desk's, `crate::front::press`).
pub(super) const BUTTONS: &[Button] = &[
    Button {
        prefixes: &[DIR_PREFIX],
        operators: Some("a directory button"),
        handle: |app, p, rest| Box::pin(app.dir_pressed(p, rest)),
    },
    Button {
        prefixes: &[HOSTKEY_PREFIX],
        operators: Some("a host-key button"),
        handle: |app, p, rest| Box::pin(app.host_key_pressed(p, rest)),
    },
    Button {
        prefixes: &[OUTBOX_PREFIX],
        operators: Some("an outbox button"),
        handle: |app, p, rest| Box::pin(app.outbox_pressed(p, rest)),
    },
    Button {
        prefixes: &[PICTURE_PREFIX],
        operators: None,
        handle: |app, p, name| Box::pin(app.picture_pressed(p, name)),
    },
    Button {
        prefixes: &[STOP_PREFIX],
        operators: None,
        handle: |app, p, name| Box::pin(app.stop_pressed(p, name)),
    },
    Button {
        prefixes: &[KEY_PREFIX],
        operators: Some("a key of a live picture"),
        handle: |app, p, _| Box::pin(app.key_pressed(p)),
    },
    Button {
        prefixes: &[BOUNDARY_PREFIX],
        operators: Some("a boundary button"),
        handle: |app, p, _| Box::pin(app.boundary_pressed(p)),
    },
    Button {
        prefixes: &[JOB_PREFIX, DRAFT_PREFIX, ZONE_PREFIX],
        operators: Some("a schedule button"),
        handle: |app, p, _| Box::pin(app.schedule_pressed(p)),
    },
    Button {
        prefixes: &[DASH_PREFIX],
        operators: None,
        handle: |app, p, name| Box::pin(app.dashboard_pressed(p, name)),
    },
    Button {
        prefixes: &[USE_PREFIX],
        operators: None,
        handle: |app, p, name| Box::pin(app.use_pressed(p, name)),
    },
    Button {
        prefixes: &[crate::revived::KILL_PREFIX],
        operators: None,
        handle: |app, p, name| {
            Box::pin(crate::revived::kill_pressed(
                app,
                p.user,
                p.chat,
                p.id(),
                name,
            ))
        },
    },
    Button {
        prefixes: &[crate::lost::REVIVE_PREFIX],
        operators: None,
        handle: |app, p, name| Box::pin(crate::lost::on_revive(app, p.user, p.chat, p.id(), name)),
    },
    Button {
        prefixes: &[crate::voice::CARD_PREFIX],
        operators: Some("a transcript button"),
        handle: |app, p, _| Box::pin(app.transcript_pressed(p)),
    },
];

impl App {
    /// A press of a button of [`BUTTONS`]; `None` if `data` starts with no prefix there.
    pub(super) async fn on_button(&self, p: &Press<'_>) -> Option<Result<(), HandleError>> {
        let (button, rest) = BUTTONS.iter().find_map(|b| {
            let rest = b.prefixes.iter().find_map(|x| p.data.strip_prefix(x))?;
            Some((b, rest))
        })?;
        if let Some(what) = button.operators {
            match self
                .viewer_refused(p.user, p.chat, p.id(), p.data, what)
                .await
            {
                Ok(false) => {}
                Ok(true) => return Some(Ok(())),
                Err(e) => return Some(Err(e)),
            }
        }
        Some((button.handle)(self, p, rest).await)
    }

    /// The answer to a press of a button whose data no longer means anything.
    pub(super) async fn no_longer_works(&self, p: &Press<'_>) -> Result<(), HandleError> {
        self.tg
            .answer_callback(p.id(), Some("This button no longer works."))
            .await?;
        Ok(())
    }

    /// A session's button of `/ls` (`use:NAME`): it becomes the chat's current session
    /// and focus.
    async fn use_pressed(&self, p: &Press<'_>, name: &str) -> Result<(), HandleError> {
        match self.host.info(name).await {
            Ok(Some(_)) => {
                let current = SessionRef::address(name);
                self.store
                    .set_current_session(ChatId(p.chat), Some(&current))
                    .await?;
                self.tg
                    .answer_callback(p.id(), Some(&format!("Now talking to {name}")))
                    .await?;
                self.live.set_focus(p.chat, name);
                self.live.ensure(p.chat, name);
            }
            _ => {
                self.tg
                    .answer_callback(p.id(), Some(&format!("{name} is gone")))
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_prefix_starts_another_so_the_order_does_not_matter() {
        let mut all: Vec<&str> = BUTTONS
            .iter()
            .flat_map(|b| b.prefixes.iter().copied())
            .collect();
        all.push(crate::card::CALLBACK_PREFIX);
        for (i, a) in all.iter().enumerate() {
            assert!(!a.is_empty());
            for (j, b) in all.iter().enumerate() {
                assert!(i == j || !b.starts_with(a), "{a:?} starts {b:?}");
            }
        }
    }
}
