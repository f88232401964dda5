//! The bot's state in SQLite (through sqlx): chats and their current session, live-screen
//! message ids, which session a bot message belongs to, the audit log, voice transcripts,
//! processed Telegram update ids, and when strangers were last answered.
//!
//! One file in the state directory, opened by [`walkie_sqlite::open`] as every walkie store
//! is (private file, WAL: readers never wait for the writer, and a crash loses at most the
//! last transaction). Migrations are the `bot/console/migrations/*.sql` files, embedded by
//! `sqlx::migrate!`.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqlitePool;
use walkie_config::NotifyLevel;

use crate::front::{ChatId, MessageRef, UserId};
use crate::session::SessionRef;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// File name of the bot's database inside the state directory.
pub const DB_FILE: &str = "bot.sqlite";

pub use crate::session::LOCAL_HOST;

/// Errors of the bot store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bot database: {0}")]
    Open(#[from] walkie_sqlite::Error),
    #[error("bot database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("bot database holds an unknown {what} {value:?}")]
    Corrupt { what: &'static str, value: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One line of the audit log, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub user_id: Option<UserId>,
    pub chat_id: Option<ChatId>,
    pub session: Option<SessionRef>,
    pub action: AuditAction,
    /// `text`, `voice`, `button`.
    pub source: Option<String>,
    pub text: Option<String>,
    pub detail: Option<String>,
}

/// What an audit line records. Stored as [`AuditAction::as_str`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditAction {
    /// A command (`/new`, `/kill`, ...) was run.
    #[default]
    Command,
    /// Text was typed into a session.
    Dispatch,
    /// The gate refused an update or a press.
    Refused,
    /// An approval was asked of the phone.
    ApprovalAsked,
    /// An approval was decided (by a press, a rule, the deadline, the terminal).
    Approval,
    /// A remote host's key was trusted or rejected from a chat.
    HostKey,
    /// A session's boundary was chosen or changed (`/new --sandbox`, a widen button).
    Boundary,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Command => "command",
            AuditAction::Dispatch => "dispatch",
            AuditAction::Refused => "refused",
            AuditAction::ApprovalAsked => "approval asked",
            AuditAction::Approval => "approval",
            AuditAction::HostKey => "host key",
            AuditAction::Boundary => "boundary",
        }
    }
}

/// One line of the audit log, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub session: Option<String>,
    pub action: String,
    pub source: Option<String>,
    pub text: Option<String>,
    pub detail: Option<String>,
}

/// What became of a voice transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptState {
    /// Card shown, waiting for Send / Edit / Cancel.
    Pending,
    /// Edit pressed: the chat's next text message replaces it.
    Editing,
    Sent,
    Cancelled,
}

impl TranscriptState {
    fn as_str(self) -> &'static str {
        match self {
            TranscriptState::Pending => "pending",
            TranscriptState::Editing => "editing",
            TranscriptState::Sent => "sent",
            TranscriptState::Cancelled => "cancelled",
        }
    }
}

impl FromStr for TranscriptState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => TranscriptState::Pending,
            "editing" => TranscriptState::Editing,
            "sent" => TranscriptState::Sent,
            "cancelled" => TranscriptState::Cancelled,
            other => {
                return Err(StoreError::Corrupt {
                    what: "transcript state",
                    value: other.into(),
                })
            }
        })
    }
}

/// A voice transcript and its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub id: i64,
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub voice_message_id: MessageRef,
    pub card_message_id: Option<MessageRef>,
    pub session: Option<SessionRef>,
    pub text: String,
    pub state: TranscriptState,
}

/// A new transcript to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTranscript<'a> {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub voice_message_id: MessageRef,
    pub session: Option<&'a SessionRef>,
    pub text: &'a str,
    pub state: TranscriptState,
}

/// Whether an update may be dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time seen: dispatch it, then call [`Store::finish_update`].
    New,
    /// Already dispatched (or being dispatched when the bot died): skip it.
    Seen,
}

/// The bot's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Store> {
        let pool = walkie_sqlite::open(path, &MIGRATOR).await?;
        Ok(Store { pool })
    }

    /// Opens `bot.sqlite` in `state_dir`, creating the directory (0700) if needed.
    pub async fn open_in(state_dir: &Path) -> Result<Store> {
        Store::open(&state_dir.join(DB_FILE)).await
    }

    /// The connection pool, for the store's other modules (`approval_store`).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // --- chats ---

    /// The chat's current session, if one was chosen.
    pub async fn current_session(&self, chat: ChatId) -> Result<Option<SessionRef>> {
        let row: Option<(Option<String>, String)> =
            sqlx::query_as("SELECT current_session, current_host FROM chats WHERE chat_id = ?")
                .bind(chat.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(name, host)| Some(SessionRef { host, name: name? })))
    }

    /// Every chat the bot has kept state for (the ones told about hosts going down).
    pub async fn chats(&self) -> Result<Vec<ChatId>> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT chat_id FROM chats ORDER BY chat_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| ChatId(r.0)).collect())
    }

    /// The chat's notification level (`/notify`), if it chose one.
    pub async fn notify_level(&self, chat: ChatId) -> Result<Option<NotifyLevel>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT notify FROM chats WHERE chat_id = ?")
                .bind(chat.0)
                .fetch_optional(&self.pool)
                .await?;
        // A value this build does not know counts as none chosen.
        Ok(row.and_then(|r| r.0).and_then(|l| l.parse().ok()))
    }

    pub async fn set_notify_level(&self, chat: ChatId, level: NotifyLevel) -> Result<()> {
        sqlx::query(
            "INSERT INTO chats (chat_id, notify, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (chat_id) DO UPDATE SET notify = excluded.notify, updated_at = excluded.updated_at",
        )
        .bind(chat.0)
        .bind(level.as_str())
        .bind(now_unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets (or with `None` clears) the chat's current session.
    pub async fn set_current_session(
        &self,
        chat: ChatId,
        session: Option<&SessionRef>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO chats (chat_id, current_host, current_session, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (chat_id) DO UPDATE SET current_host = excluded.current_host,
                                                 current_session = excluded.current_session,
                                                 updated_at = excluded.updated_at",
        )
        .bind(chat.0)
        .bind(session.map_or(LOCAL_HOST, |s| s.host.as_str()))
        .bind(session.map(|s| s.name.as_str()))
        .bind(now_unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- live screens and message ownership ---

    /// The message showing `session`'s live screen in `chat`.
    pub async fn live_message(
        &self,
        chat: ChatId,
        session: &SessionRef,
    ) -> Result<Option<MessageRef>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT message_id FROM live_screens WHERE chat_id = ? AND host = ? AND session = ?",
        )
        .bind(chat.0)
        .bind(&session.host)
        .bind(&session.name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| MessageRef(r.0)))
    }

    /// Records the message now showing `session`'s live screen (replacing an older one).
    pub async fn set_live_message(
        &self,
        chat: ChatId,
        session: &SessionRef,
        message: MessageRef,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO live_screens (chat_id, host, session, message_id, updated_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (chat_id, host, session) DO UPDATE SET message_id = excluded.message_id,
                                                          updated_at = excluded.updated_at",
        )
        .bind(chat.0)
        .bind(&session.host)
        .bind(&session.name)
        .bind(message.0)
        .bind(now_unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stops tracking a live screen (its message was deleted or the session went idle).
    pub async fn clear_live_message(&self, chat: ChatId, session: &SessionRef) -> Result<()> {
        sqlx::query("DELETE FROM live_screens WHERE chat_id = ? AND host = ? AND session = ?")
            .bind(chat.0)
            .bind(&session.host)
            .bind(&session.name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every live screen: (chat, session, message). Used to resume after a restart.
    pub async fn live_messages(&self) -> Result<Vec<(ChatId, SessionRef, MessageRef)>> {
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT chat_id, host, session, message_id FROM live_screens
             ORDER BY chat_id, host, session",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(chat, host, name, message)| {
                (ChatId(chat), SessionRef { host, name }, MessageRef(message))
            })
            .collect())
    }

    /// Remembers that a bot message in `chat` belongs to `session` (for reply routing).
    pub async fn remember_message(
        &self,
        chat: ChatId,
        message: MessageRef,
        session: &SessionRef,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO session_messages (chat_id, message_id, host, session, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(chat.0)
        .bind(message.0)
        .bind(&session.host)
        .bind(&session.name)
        .bind(now_unix())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session a bot message belongs to.
    pub async fn session_of_message(
        &self,
        chat: ChatId,
        message: MessageRef,
    ) -> Result<Option<SessionRef>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT host, session FROM session_messages WHERE chat_id = ? AND message_id = ?",
        )
        .bind(chat.0)
        .bind(message.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(host, name)| SessionRef { host, name }))
    }

    // --- audit log ---

    /// Appends one entry to the audit log.
    pub async fn audit(&self, e: &AuditEntry) -> Result<i64> {
        let done = sqlx::query(
            "INSERT INTO audit_log (at, user_id, chat_id, host, session, action, source, text, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now_unix())
        .bind(e.user_id.map(|u| u.0))
        .bind(e.chat_id.map(|c| c.0))
        .bind(e.session.as_ref().map(|s| s.host.as_str()))
        .bind(e.session.as_ref().map(|s| s.name.as_str()))
        .bind(e.action.as_str())
        .bind(e.source.as_deref())
        .bind(e.text.as_deref())
        .bind(e.detail.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(done.last_insert_rowid())
    }

    /// Where in the session's recording the audited input landed (seconds).
    pub async fn set_recording_at(&self, audit_id: i64, at: f64) -> Result<()> {
        sqlx::query("UPDATE audit_log SET recording_at = ? WHERE id = ?")
            .bind(at)
            .bind(audit_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The recording time stored with an audit entry.
    pub async fn recording_at(&self, audit_id: i64) -> Result<Option<f64>> {
        Ok(
            sqlx::query_scalar("SELECT recording_at FROM audit_log WHERE id = ?")
                .bind(audit_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The latest `limit` audit entries, oldest first.
    pub async fn audit_tail(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        Ok(sqlx::query_as(
            "SELECT * FROM (SELECT id, at, user_id, chat_id, session, action, source, text, detail
                            FROM audit_log ORDER BY id DESC LIMIT ?) ORDER BY id",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    // --- transcripts ---

    /// Stores a new transcript and returns its id (used in the card's callback data).
    pub async fn add_transcript(&self, t: &NewTranscript<'_>) -> Result<i64> {
        let now = now_unix();
        let done = sqlx::query(
            "INSERT INTO transcripts (chat_id, user_id, voice_message_id, host, session, text, state,
                                      created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(t.chat_id.0)
        .bind(t.user_id.0)
        .bind(t.voice_message_id.0)
        .bind(t.session.map_or(LOCAL_HOST, |s| s.host.as_str()))
        .bind(t.session.map(|s| s.name.as_str()))
        .bind(t.text)
        .bind(t.state.as_str())
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.last_insert_rowid())
    }

    pub async fn transcript(&self, id: i64) -> Result<Option<Transcript>> {
        type Row = (
            i64,
            i64,
            i64,
            i64,
            Option<i64>,
            String,
            Option<String>,
            String,
            String,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, chat_id, user_id, voice_message_id, card_message_id, host, session, text,
                    state
             FROM transcripts WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(
            |(
                id,
                chat_id,
                user_id,
                voice_message_id,
                card_message_id,
                host,
                session,
                text,
                state,
            )| {
                Ok(Transcript {
                    id,
                    chat_id: ChatId(chat_id),
                    user_id: UserId(user_id),
                    voice_message_id: MessageRef(voice_message_id),
                    card_message_id: card_message_id.map(MessageRef),
                    session: session.map(|name| SessionRef { host, name }),
                    text,
                    state: state.parse()?,
                })
            },
        )
        .transpose()
    }

    pub async fn set_transcript_card(&self, id: i64, card: MessageRef) -> Result<()> {
        sqlx::query("UPDATE transcripts SET card_message_id = ?, updated_at = ? WHERE id = ?")
            .bind(card.0)
            .bind(now_unix())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Moves a transcript from `from` to `to` (optionally replacing its text). Returns
    /// false if it was not in state `from`: so two presses of Send send it once.
    pub async fn transition_transcript(
        &self,
        id: i64,
        from: TranscriptState,
        to: TranscriptState,
        text: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE transcripts SET state = ?, text = COALESCE(?, text), updated_at = ?
             WHERE id = ? AND state = ?",
        )
        .bind(to.as_str())
        .bind(text)
        .bind(now_unix())
        .bind(id)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The chat's transcript waiting for its replacement text (Edit was pressed), if any.
    pub async fn editing_transcript(&self, chat: ChatId) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM transcripts WHERE chat_id = ? AND state = 'editing' ORDER BY id DESC LIMIT 1",
        )
        .bind(chat.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }

    // --- processed updates ---

    /// Claims an update before dispatching it. A claimed update is never dispatched again,
    /// even if the bot dies before [`Store::finish_update`].
    pub async fn claim_update(&self, update_id: i64) -> Result<Claim> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO processed_updates (update_id, state, claimed_at) VALUES (?, 'claimed', ?)",
        )
        .bind(update_id)
        .bind(now_unix())
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 1 {
            Claim::New
        } else {
            Claim::Seen
        })
    }

    /// Marks a claimed update as fully handled.
    pub async fn finish_update(&self, update_id: i64) -> Result<()> {
        sqlx::query("UPDATE processed_updates SET state = 'done', done_at = ? WHERE update_id = ?")
            .bind(now_unix())
            .bind(update_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remembers where a claimed update came from and what it said (for [`Store::unfinished_reports`]).
    pub async fn describe_update(&self, update_id: i64, chat_id: i64, summary: &str) -> Result<()> {
        sqlx::query("UPDATE processed_updates SET chat_id = ?, summary = ? WHERE update_id = ?")
            .bind(chat_id)
            .bind(summary)
            .bind(update_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Updates claimed but never finished, with their chat and summary when known.
    pub async fn unfinished_reports(&self) -> Result<Vec<(i64, Option<i64>, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT update_id, chat_id, summary FROM processed_updates WHERE state = 'claimed' ORDER BY update_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Updates claimed but never finished: the bot died while handling them.
    pub async fn unfinished_updates(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT update_id FROM processed_updates WHERE state = 'claimed' ORDER BY update_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The getUpdates offset that confirms everything claimed so far.
    pub async fn next_offset(&self) -> Result<Option<i64>> {
        let row: (Option<i64>,) = sqlx::query_as("SELECT MAX(update_id) FROM processed_updates")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.0.map(|m| m + 1))
    }

    /// Forgets finished updates claimed before `before` (Telegram keeps undelivered
    /// updates for 24 hours, so a week is plenty), always keeping the newest one so the
    /// offset survives.
    pub async fn prune_updates(&self, before: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM processed_updates WHERE state = 'done' AND claimed_at < ?
               AND update_id < (SELECT MAX(update_id) FROM processed_updates)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    // --- strangers ---

    /// Records a refused update from a stranger; returns how long ago they were last
    /// answered (`None`: never).
    pub async fn stranger_refused(&self, user: UserId) -> Result<Option<Duration>> {
        let now = now_unix();
        let row: (Option<i64>,) = sqlx::query_as(
            "INSERT INTO strangers (user_id, first_seen, last_refused_at, refusals) VALUES (?, ?, ?, 1)
             ON CONFLICT (user_id) DO UPDATE SET last_refused_at = excluded.last_refused_at,
                                                 refusals = refusals + 1
             RETURNING last_answered_at",
        )
        .bind(user.0)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row
            .0
            .map(|at| Duration::from_secs(u64::try_from(now - at).unwrap_or(0))))
    }

    /// Records that a stranger was just sent the refusal.
    pub async fn stranger_answered(&self, user: UserId) -> Result<()> {
        sqlx::query("UPDATE strangers SET last_answered_at = ? WHERE user_id = ?")
            .bind(now_unix())
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;

    fn local(name: &str) -> SessionRef {
        SessionRef::local(name)
    }

    /// The embedded migrations up to `version`: the schema of an older release.
    fn migrator_upto(version: i64) -> Migrator {
        Migrator::with_migrations(
            MIGRATOR
                .iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        )
    }

    async fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(&dir.path().join("state"))
            .await
            .expect("open");
        (dir, store)
    }

    async fn timed<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("test timed out")
    }

    #[tokio::test]
    async fn opens_in_wal_mode_and_migrates_once() {
        timed(async {
            let (dir, store) = temp_store().await;
            let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(mode.0, "wal");
            store
                .set_current_session(ChatId(1), Some(&local("a")))
                .await
                .unwrap();
            store.close().await;
            // Reopening runs no migration twice and keeps the data.
            let store = Store::open(&dir.path().join("state").join(DB_FILE))
                .await
                .unwrap();
            assert_eq!(
                store.current_session(ChatId(1)).await.unwrap(),
                Some(local("a"))
            );
            let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(n.0, MIGRATOR.iter().count() as i64);
        })
        .await
    }

    #[tokio::test]
    async fn current_session_per_chat() {
        timed(async {
            let (_d, s) = temp_store().await;
            assert_eq!(s.current_session(ChatId(1)).await.unwrap(), None);
            s.set_current_session(ChatId(1), Some(&local("api")))
                .await
                .unwrap();
            s.set_current_session(ChatId(2), Some(&local("web")))
                .await
                .unwrap();
            s.set_current_session(ChatId(1), Some(&local("db")))
                .await
                .unwrap();
            assert_eq!(
                s.current_session(ChatId(1)).await.unwrap(),
                Some(local("db"))
            );
            assert_eq!(
                s.current_session(ChatId(2)).await.unwrap(),
                Some(local("web"))
            );
            s.set_current_session(ChatId(2), None).await.unwrap();
            assert_eq!(s.current_session(ChatId(2)).await.unwrap(), None);
        })
        .await
    }

    #[tokio::test]
    async fn session_references_keep_their_host() {
        timed(async {
            let (_d, s) = temp_store().await;
            let remote = SessionRef {
                host: "box".into(),
                name: "api".into(),
            };
            s.set_current_session(ChatId(1), Some(&remote))
                .await
                .unwrap();
            assert_eq!(
                s.current_session(ChatId(1)).await.unwrap(),
                Some(remote.clone())
            );
            // The same name on two hosts: two live screens, two owners of messages.
            s.set_live_message(ChatId(1), &remote, MessageRef(10))
                .await
                .unwrap();
            s.set_live_message(ChatId(1), &local("api"), MessageRef(11))
                .await
                .unwrap();
            assert_eq!(
                s.live_message(ChatId(1), &remote).await.unwrap(),
                Some(MessageRef(10))
            );
            s.clear_live_message(ChatId(1), &local("api"))
                .await
                .unwrap();
            assert_eq!(
                s.live_messages().await.unwrap(),
                [(ChatId(1), remote.clone(), MessageRef(10))]
            );
            s.remember_message(ChatId(1), MessageRef(12), &remote)
                .await
                .unwrap();
            assert_eq!(
                s.session_of_message(ChatId(1), MessageRef(12))
                    .await
                    .unwrap(),
                Some(remote)
            );
        })
        .await
    }

    #[tokio::test]
    async fn live_messages_and_reply_routing() {
        timed(async {
            let (_d, s) = temp_store().await;
            s.set_live_message(ChatId(1), &local("api"), MessageRef(10))
                .await
                .unwrap();
            s.set_live_message(ChatId(1), &local("api"), MessageRef(20))
                .await
                .unwrap();
            s.set_live_message(ChatId(2), &local("web"), MessageRef(5))
                .await
                .unwrap();
            assert_eq!(
                s.live_message(ChatId(1), &local("api")).await.unwrap(),
                Some(MessageRef(20))
            );
            assert_eq!(
                s.live_messages().await.unwrap(),
                vec![
                    (ChatId(1), local("api"), MessageRef(20)),
                    (ChatId(2), local("web"), MessageRef(5))
                ]
            );
            s.clear_live_message(ChatId(1), &local("api"))
                .await
                .unwrap();
            assert_eq!(
                s.live_message(ChatId(1), &local("api")).await.unwrap(),
                None
            );
            s.remember_message(ChatId(1), MessageRef(33), &local("api"))
                .await
                .unwrap();
            assert_eq!(
                s.session_of_message(ChatId(1), MessageRef(33))
                    .await
                    .unwrap(),
                Some(local("api"))
            );
            assert_eq!(
                s.session_of_message(ChatId(2), MessageRef(33))
                    .await
                    .unwrap(),
                None
            );
        })
        .await
    }

    #[tokio::test]
    async fn audit_log_keeps_everything_in_order() {
        timed(async {
            let (_d, s) = temp_store().await;
            let e = AuditEntry {
                user_id: Some(UserId(7)),
                chat_id: Some(ChatId(7)),
                session: Some(SessionRef::local("api")),
                action: AuditAction::Dispatch,
                source: Some("voice".into()),
                text: Some("run the tests".into()),
                detail: None,
            };
            let id = s.audit(&e).await.unwrap();
            assert_eq!(s.recording_at(id).await.unwrap(), None);
            s.set_recording_at(id, 12.25).await.unwrap();
            assert_eq!(s.recording_at(id).await.unwrap(), Some(12.25));
            s.audit(&AuditEntry {
                action: AuditAction::Refused,
                user_id: Some(UserId(666)),
                ..Default::default()
            })
            .await
            .unwrap();
            let tail = s.audit_tail(10).await.unwrap();
            assert_eq!(tail.len(), 2);
            assert_eq!(tail[0].action, "dispatch");
            assert_eq!(tail[0].source.as_deref(), Some("voice"));
            assert_eq!(tail[0].text.as_deref(), Some("run the tests"));
            assert_eq!(tail[1].user_id, Some(666));
            assert!(tail[0].at > 1_700_000_000);
            assert_eq!(s.audit_tail(1).await.unwrap()[0].action, "refused");
        })
        .await
    }

    #[tokio::test]
    async fn transcripts_move_through_states_once() {
        timed(async {
            let (_d, s) = temp_store().await;
            let id = s
                .add_transcript(&NewTranscript {
                    chat_id: ChatId(1),
                    user_id: UserId(2),
                    voice_message_id: MessageRef(3),
                    session: Some(&SessionRef {
                        host: "cloud".into(),
                        name: "api".into(),
                    }),
                    text: "hello",
                    state: TranscriptState::Pending,
                })
                .await
                .unwrap();
            s.set_transcript_card(id, MessageRef(4)).await.unwrap();
            use TranscriptState::*;
            assert!(s
                .transition_transcript(id, Pending, Editing, None)
                .await
                .unwrap());
            assert_eq!(s.editing_transcript(ChatId(1)).await.unwrap(), Some(id));
            assert!(s
                .transition_transcript(id, Editing, Pending, Some("hello world"))
                .await
                .unwrap());
            assert!(s
                .transition_transcript(id, Pending, Sent, None)
                .await
                .unwrap());
            // A second press of Send finds it already sent.
            assert!(!s
                .transition_transcript(id, Pending, Sent, None)
                .await
                .unwrap());
            let t = s.transcript(id).await.unwrap().unwrap();
            assert_eq!(
                (t.text.as_str(), t.state, t.card_message_id),
                ("hello world", Sent, Some(MessageRef(4)))
            );
            // The session keeps its host.
            assert_eq!(
                t.session.map(|s| s.to_string()).as_deref(),
                Some("api@cloud")
            );
            assert_eq!(s.editing_transcript(ChatId(1)).await.unwrap(), None);
        })
        .await
    }

    #[tokio::test]
    async fn updates_are_claimed_once_across_reopen() {
        timed(async {
            let (dir, s) = temp_store().await;
            assert_eq!(s.next_offset().await.unwrap(), None);
            assert_eq!(s.claim_update(100).await.unwrap(), Claim::New);
            s.finish_update(100).await.unwrap();
            assert_eq!(s.claim_update(101).await.unwrap(), Claim::New);
            // The bot dies here, with 101 claimed but not finished.
            drop(s);
            let s = Store::open_in(&dir.path().join("state")).await.unwrap();
            assert_eq!(s.claim_update(100).await.unwrap(), Claim::Seen);
            assert_eq!(s.claim_update(101).await.unwrap(), Claim::Seen);
            assert_eq!(s.unfinished_updates().await.unwrap(), vec![101]);
            assert_eq!(s.next_offset().await.unwrap(), Some(102));
            // Pruning keeps the newest id, so the offset survives.
            s.finish_update(101).await.unwrap();
            s.prune_updates(now_unix() + 10).await.unwrap();
            assert_eq!(s.next_offset().await.unwrap(), Some(102));
            assert_eq!(s.claim_update(101).await.unwrap(), Claim::Seen);
        })
        .await
    }

    #[tokio::test]
    async fn strangers_remember_when_they_were_answered() {
        timed(async {
            let (_d, s) = temp_store().await;
            assert_eq!(s.stranger_refused(UserId(9)).await.unwrap(), None);
            s.stranger_answered(UserId(9)).await.unwrap();
            let ago = s.stranger_refused(UserId(9)).await.unwrap().unwrap();
            assert!(ago < Duration::from_secs(5));
            let n: (i64,) = sqlx::query_as("SELECT refusals FROM strangers WHERE user_id = 9")
                .fetch_one(&s.pool)
                .await
                .unwrap();
            assert_eq!(n.0, 2);
        })
        .await
    }

    #[tokio::test]
    async fn a_database_of_the_previous_release_gets_the_local_host_in_place() {
        timed(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(DB_FILE);
            // The release before the host dimension: migrations 1 to 4, and data in every
            // table that refers to a session.
            {
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true);
                let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
                migrator_upto(4).run(&pool).await.unwrap();
                for sql in [
                    "INSERT INTO chats (chat_id, current_session, updated_at, notify) VALUES (7, 'api', 1, 'none')",
                    "INSERT INTO live_screens (chat_id, session, message_id, updated_at) VALUES (7, 'api', 70, 1)",
                    "INSERT INTO session_messages (chat_id, message_id, session, created_at) VALUES (7, 71, 'api', 1)",
                    "INSERT INTO audit_log (at, user_id, chat_id, session, action) VALUES (1, 5, 7, 'api', 'dispatch')",
                    "INSERT INTO audit_log (at, user_id, chat_id, action) VALUES (2, 5, 7, 'command')",
                    "INSERT INTO transcripts (chat_id, user_id, voice_message_id, session, text, state, created_at, updated_at) VALUES (7, 5, 9, 'api', 'hi', 'pending', 1, 1)",
                    "INSERT INTO approval_session_rules (session, created_ms, rule, added_ms) VALUES ('api', 10, '\"r\"', 11)",
                ] {
                    sqlx::query(sql).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
            let store = Store::open(&path).await.expect("migrates in place");
            assert_eq!(store.current_session(ChatId(7)).await.unwrap(), Some(local("api")));
            assert_eq!(store.notify_level(ChatId(7)).await.unwrap(), Some(NotifyLevel::None));
            assert_eq!(store.live_message(ChatId(7), &local("api")).await.unwrap(), Some(MessageRef(70)));
            assert_eq!(
                store.session_of_message(ChatId(7), MessageRef(71)).await.unwrap(), Some(local("api"))
            );
            let hosts = |sql: &'static str| {
                let pool = store.pool().clone();
                async move {
                    sqlx::query_as::<_, (Option<String>,)>(sql)
                        .fetch_all(&pool)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|(h,)| h)
                        .collect::<Vec<_>>()
                }
            };
            let local_host = Some(LOCAL_HOST.to_string());
            for sql in [
                "SELECT current_host FROM chats",
                "SELECT host FROM live_screens",
                "SELECT host FROM session_messages",
                "SELECT host FROM transcripts",
                "SELECT host FROM approval_session_rules",
            ] {
                assert_eq!(hosts(sql).await, vec![local_host.clone()], "{sql}");
            }
            // An audit line about no session has no host either.
            assert_eq!(
                hosts("SELECT host FROM audit_log ORDER BY id").await,
                [local_host.clone(), None]
            );
            // Writing after the migration keeps working on the rebuilt tables.
            store.set_live_message(ChatId(7), &local("api"), MessageRef(72)).await.unwrap();
            assert_eq!(store.live_message(ChatId(7), &local("api")).await.unwrap(), Some(MessageRef(72)));
            store.close().await;
        })
        .await;
    }
}
