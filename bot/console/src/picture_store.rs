//! Live pictures (`/watch`) in the bot's SQLite store (migration `0060_live_pictures.sql`):
//! one row per chat and session while the picture runs, so that a bot restart resumes it
//! (the same message edited, its keys and Stop working) or ends it with its final note.
//!
//! A row is written when the picture's message is posted, updated after each shown
//! picture, and deleted when the picture ends (Stop, time up, session gone, replaced); a
//! bot that stops leaves it for the next start. Deleting checks the message id, so the end
//! of a replaced picture never removes its successor's row.

use crate::front::{ChatId, MessageRef};
use crate::session::SessionRef;
use crate::store::{Result, Store};

/// A running live picture as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePicture {
    pub chat: ChatId,
    /// The session's address (`api`, `api@cloud`).
    pub session: SessionRef,
    pub message: MessageRef,
    /// When it stops by itself (Unix seconds).
    pub until: i64,
    /// The hash of the snapshot last shown, if any.
    pub shown: Option<String>,
    /// The caption the message carries.
    pub caption: String,
}

/// A `live_pictures` row: chat, host, session, message, until, shown, caption.
type Row = (i64, String, String, i64, i64, Option<String>, String);

impl Store {
    /// Records a live picture's message (replacing the row of an older one).
    pub async fn save_live_picture(&self, p: &LivePicture) -> Result<()> {
        sqlx::query(
            "INSERT INTO live_pictures (chat_id, host, session, message_id, until_at, shown, caption)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (chat_id, host, session) DO UPDATE SET
                message_id = excluded.message_id, until_at = excluded.until_at,
                shown = excluded.shown, caption = excluded.caption",
        )
        .bind(p.chat.0)
        .bind(&p.session.host)
        .bind(&p.session.name)
        .bind(p.message.0)
        .bind(p.until)
        .bind(&p.shown)
        .bind(&p.caption)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What message `message` of a live picture shows now.
    pub async fn live_picture_shown(
        &self,
        chat: ChatId,
        message: MessageRef,
        shown: &str,
        caption: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE live_pictures SET shown = ?, caption = ? WHERE chat_id = ? AND message_id = ?",
        )
        .bind(shown)
        .bind(caption)
        .bind(chat.0)
        .bind(message.0)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The live picture in message `message` of `chat` has ended.
    pub async fn clear_live_picture(&self, chat: ChatId, message: MessageRef) -> Result<()> {
        sqlx::query("DELETE FROM live_pictures WHERE chat_id = ? AND message_id = ?")
            .bind(chat.0)
            .bind(message.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every live picture the store keeps (to resume after a restart).
    pub async fn live_pictures(&self) -> Result<Vec<LivePicture>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT chat_id, host, session, message_id, until_at, shown, caption
             FROM live_pictures ORDER BY chat_id, host, session",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(chat, host, name, message, until, shown, caption)| LivePicture {
                    chat: ChatId(chat),
                    session: SessionRef { host, name },
                    message: MessageRef(message),
                    until,
                    shown,
                    caption,
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn live_pictures_survive_reopening_and_end_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bot.sqlite");
        let store = Store::open(&path).await.expect("open");
        let p = LivePicture {
            chat: ChatId(7),
            session: SessionRef::address("api@cloud"),
            message: MessageRef(70),
            until: 1_900_000_000,
            shown: None,
            caption: "🖼 api@cloud".into(),
        };
        store.save_live_picture(&p).await.expect("save");
        store
            .live_picture_shown(ChatId(7), MessageRef(70), "abc", "🖼 api@cloud · 10:31")
            .await
            .expect("shown");
        store.close().await;
        let store = Store::open(&path).await.expect("reopen");
        let got = store.live_pictures().await.expect("list");
        assert_eq!(
            got,
            vec![LivePicture {
                shown: Some("abc".into()),
                caption: "🖼 api@cloud · 10:31".into(),
                ..p.clone()
            }]
        );
        // A newer /watch of the same session replaces the row; the old one's end leaves it.
        let newer = LivePicture {
            message: MessageRef(71),
            ..p.clone()
        };
        store.save_live_picture(&newer).await.expect("replace");
        store
            .clear_live_picture(ChatId(7), MessageRef(70))
            .await
            .expect("old end");
        assert_eq!(store.live_pictures().await.expect("list"), vec![newer]);
        store
            .clear_live_picture(ChatId(7), MessageRef(71))
            .await
            .expect("end");
        assert!(store.live_pictures().await.expect("list").is_empty());
    }
}
