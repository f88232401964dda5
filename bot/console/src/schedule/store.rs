//! Jobs, their runs, drafts and each chat's zone in the bot's SQLite store.
//!
//! The CLI (`walkie schedule`) and a running bot share this file (WAL: neither waits for
//! the other's reads). Every change of the jobs bumps `schedule_generation`, one integer
//! the bot's timer reads to notice a change made by another process.

use jiff::Timestamp;
use walkie_schedule::Job;

use crate::front::{ChatId, MessageRef, UserId};
use crate::store::{now_unix, Result, Store, StoreError};

/// A job as stored: the job, where its runs are posted, and when it last ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    pub job: Job,
    /// `None`: made from the terminal; runs are posted to the operators' private chats.
    pub chat: Option<ChatId>,
    pub last_fired: Option<i64>,
    pub created_at: i64,
}

/// What became of one fire of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Typed into the session.
    Delivered,
    /// Held until the busy target is idle (then delivered, recorded again).
    Queued,
    /// The target was still busy with the previous run.
    Skipped,
    /// Its time passed while walkie was down (or the host was away).
    Missed,
    /// It could not be delivered (the detail says why).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Queued => "queued",
            Outcome::Skipped => "skipped (busy)",
            Outcome::Missed => "missed",
            Outcome::Failed => "failed",
        }
    }
}

/// One line of a job's run history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub job_id: i64,
    /// The fire time it was for (Unix seconds).
    pub fired_at: i64,
    /// When it was handled (Unix seconds).
    pub at: i64,
    pub target: String,
    pub outcome: String,
    pub detail: Option<String>,
}

/// A proposed job waiting for its card's Create / Cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDraft {
    pub id: i64,
    pub chat: ChatId,
    pub user: UserId,
    /// As the card showed it (id 0).
    pub job: Job,
    pub created_at: i64,
    /// The card (or the zone question) it is shown in, once posted.
    pub message: Option<MessageRef>,
    /// The line as typed, or the transcript (`spoken`), to parse again in another zone.
    pub line: Option<String>,
    pub spoken: bool,
    /// `zone` (the chat's zone question is open), `pending` (its card waits for Create /
    /// Cancel), `created`, `cancelled`.
    pub state: String,
}

/// How a draft came: the line typed after `/schedule add`, or a voice note's transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftSource<'a> {
    pub line: &'a str,
    pub spoken: bool,
}

/// A run held for a busy target (overlap `queue`), kept across a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun {
    pub job: u64,
    pub session: String,
    pub fired_at: Timestamp,
    /// The job as it fired (a one-shot is gone from the jobs once fired).
    pub fired: Option<StoredJob>,
}

type QueueRow = (i64, String, i64, String, Option<i64>);

fn queued_from_row((job, session, fired_at, json, chat): QueueRow) -> QueuedRun {
    let id = u64::try_from(job).unwrap_or_default();
    let fired = serde_json::from_str::<Job>(&json).ok().map(|mut j| {
        j.id = id;
        StoredJob {
            job: j,
            chat: chat.map(ChatId),
            last_fired: None,
            created_at: 0,
        }
    });
    QueuedRun {
        job: id,
        session,
        fired_at: ts(fired_at),
        fired,
    }
}

type DraftRow = (
    i64,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    String,
);

/// A draft row's columns, as [`DraftRow`] reads them (a macro, so queries stay literals).
macro_rules! draft_columns {
    () => {
        "id, chat_id, user_id, draft, created_at, message_id, line, spoken, state"
    };
}

fn draft_from_row(row: DraftRow) -> Result<StoredDraft> {
    let (id, chat, user, json, created_at, message, line, spoken, state) = row;
    let job = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
        what: "schedule draft",
        value: format!("{id}: {e}"),
    })?;
    Ok(StoredDraft {
        id,
        chat: ChatId(chat),
        user: UserId(user),
        job,
        created_at,
        message: message.map(MessageRef),
        line,
        spoken: spoken != 0,
        state,
    })
}

fn job_json(job: &Job) -> Result<String> {
    serde_json::to_string(job).map_err(|e| StoreError::Corrupt {
        what: "scheduled job",
        value: e.to_string(),
    })
}

type JobRow = (i64, Option<i64>, String, i64, i64, Option<i64>, i64);

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn from_row(row: JobRow) -> Result<StoredJob> {
    let (id, chat, json, paused, settled, last_fired, created_at) = row;
    let mut job: Job = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
        what: "scheduled job",
        value: format!("{id}: {e}"),
    })?;
    job.id = u64::try_from(id).unwrap_or_default();
    job.paused = paused != 0;
    job.settled = ts(settled);
    Ok(StoredJob {
        job,
        chat: chat.map(ChatId),
        last_fired,
        created_at,
    })
}

fn job_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl Store {
    /// Adds `job` (its id is given here; its `settled`, usually its creation, is when it
    /// starts: nothing before it is ever due).
    pub async fn add_job(&self, chat: Option<ChatId>, mut job: Job) -> Result<Job> {
        let json = serde_json::to_string(&job).map_err(|e| StoreError::Corrupt {
            what: "scheduled job",
            value: e.to_string(),
        })?;
        let mut tx = self.pool().begin().await?;
        let id = sqlx::query(
            "INSERT INTO schedule_jobs (chat_id, job, paused, settled, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(chat.map(|c| c.0))
        .bind(json)
        .bind(job.paused)
        .bind(job.settled.as_second())
        .bind(now_unix())
        .execute(&mut *tx)
        .await?
        .last_insert_rowid();
        bump(&mut tx).await?;
        tx.commit().await?;
        job.id = u64::try_from(id).unwrap_or_default();
        Ok(job)
    }

    /// Every job, oldest first. A row this build cannot read is logged and left out (it
    /// stays in the file; `walkie schedule rm` can remove it).
    pub async fn jobs(&self) -> Result<Vec<StoredJob>> {
        let rows: Vec<JobRow> = sqlx::query_as(
            "SELECT id, chat_id, job, paused, settled, last_fired, created_at
             FROM schedule_jobs ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match from_row(row) {
                Ok(j) => out.push(j),
                Err(e) => tracing::warn!(error = %e, "a scheduled job cannot be read; skipped"),
            }
        }
        Ok(out)
    }

    pub async fn job(&self, id: u64) -> Result<Option<StoredJob>> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT id, chat_id, job, paused, settled, last_fired, created_at
             FROM schedule_jobs WHERE id = ?",
        )
        .bind(job_id(id))
        .fetch_optional(self.pool())
        .await?;
        row.map(from_row).transpose()
    }

    /// Pauses or resumes a job; a resumed job forgets the fires of its pause. False: no
    /// such job.
    pub async fn set_job_paused(&self, id: u64, paused: bool, now: Timestamp) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE schedule_jobs SET paused = ?,
                    settled = CASE WHEN ? THEN settled ELSE max(settled, ?) END
             WHERE id = ?",
        )
        .bind(paused)
        .bind(paused)
        .bind(now.as_second())
        .bind(job_id(id))
        .execute(&mut *tx)
        .await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores that every fire of job `id` up to `settled` was handled (`fired`: the one that
    /// ran), or deletes a finished one-shot. Never moves `settled` back.
    pub async fn settle_job(
        &self,
        id: u64,
        settled: Timestamp,
        fired: Option<Timestamp>,
        finished: bool,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        if finished {
            sqlx::query("DELETE FROM schedule_jobs WHERE id = ?")
                .bind(job_id(id))
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE schedule_jobs SET settled = max(settled, ?),
                        last_fired = coalesce(?, last_fired) WHERE id = ?",
            )
            .bind(settled.as_second())
            .bind(fired.map(|f| f.as_second()))
            .bind(job_id(id))
            .execute(&mut *tx)
            .await?;
        }
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a job (its history stays). False: no such job.
    pub async fn delete_job(&self, id: u64) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM schedule_jobs WHERE id = ?")
            .bind(job_id(id))
            .execute(&mut *tx)
            .await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends one line to job `job`'s run history.
    pub async fn record_run(
        &self,
        job: u64,
        fired_at: Timestamp,
        target: &str,
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO schedule_runs (job_id, fired_at, at, target, outcome, detail)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(job_id(job))
        .bind(fired_at.as_second())
        .bind(now_unix())
        .bind(target)
        .bind(outcome.as_str())
        .bind(detail)
        .execute(self.pool())
        .await?
        .last_insert_rowid())
    }

    /// Job `job`'s latest `limit` runs, oldest first.
    pub async fn runs(&self, job: u64, limit: i64) -> Result<Vec<RunRecord>> {
        Ok(sqlx::query_as(
            "SELECT * FROM (SELECT id, job_id, fired_at, at, target, outcome, detail
                            FROM schedule_runs WHERE job_id = ? ORDER BY id DESC LIMIT ?)
             ORDER BY id",
        )
        .bind(job_id(job))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Changes of the jobs so far (any process's): the timer reloads when it moved.
    pub async fn schedule_generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT value FROM schedule_generation WHERE id = 1")
                .fetch_optional(self.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// Asks the running bot to run job `job` now (`walkie schedule run`); the id to
    /// [`Store::withdraw_run_now`] if no bot takes it.
    pub async fn ask_run_now(&self, job: u64) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        let id = sqlx::query("INSERT INTO schedule_run_now (job_id, asked_at) VALUES (?, ?)")
            .bind(job_id(job))
            .bind(now_unix())
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The run-now asks not taken yet, each taken exactly once: (ask id, job id).
    pub async fn take_run_now(&self) -> Result<Vec<(i64, u64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "UPDATE schedule_run_now SET taken = 1 WHERE taken = 0 RETURNING id, job_id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, job)| (id, u64::try_from(job).unwrap_or_default()))
            .collect())
    }

    /// Whether the bot took ask `id` (true), or it was withdrawn now (false).
    pub async fn withdraw_run_now(&self, id: i64) -> Result<bool> {
        let gone = sqlx::query("DELETE FROM schedule_run_now WHERE id = ? AND taken = 0")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(gone.rows_affected() == 0)
    }

    /// Whether ask `id` was taken by the bot.
    pub async fn run_now_taken(&self, id: i64) -> Result<bool> {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT taken FROM schedule_run_now WHERE id = ?")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(taken.unwrap_or(1) != 0)
    }

    /// The chat's jobs' zone, if it has one.
    pub async fn chat_zone(&self, chat: ChatId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT zone FROM chats WHERE chat_id = ?")
                .bind(chat.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|r| r.0))
    }

    pub async fn set_chat_zone(&self, chat: ChatId, zone: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO chats (chat_id, zone, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (chat_id) DO UPDATE SET zone = excluded.zone, updated_at = excluded.updated_at",
        )
        .bind(chat.0)
        .bind(zone)
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Keeps a proposed job for its confirmation card (`asking_zone`: in state `zone`, until
    /// the chat answers its zone question).
    pub async fn add_schedule_draft(
        &self,
        chat: ChatId,
        user: UserId,
        job: &Job,
        source: DraftSource<'_>,
        asking_zone: bool,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO schedule_drafts (chat_id, user_id, draft, created_at, line, spoken, state)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(chat.0)
        .bind(user.0)
        .bind(job_json(job)?)
        .bind(now_unix())
        .bind(source.line)
        .bind(source.spoken)
        .bind(if asking_zone { "zone" } else { "pending" })
        .execute(self.pool())
        .await?
        .last_insert_rowid())
    }

    /// The message a draft's card (or zone question) is shown in.
    pub async fn set_draft_message(&self, id: i64, message: MessageRef) -> Result<()> {
        sqlx::query("UPDATE schedule_drafts SET message_id = ? WHERE id = ?")
            .bind(message.0)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn schedule_draft(&self, id: i64) -> Result<Option<StoredDraft>> {
        let row: Option<DraftRow> = sqlx::query_as(concat!(
            "SELECT ",
            draft_columns!(),
            " FROM schedule_drafts WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(draft_from_row).transpose()
    }

    /// Changes a draft's job while its card is still pending (an overlap button); false when
    /// the card was already answered.
    pub async fn set_draft_job(&self, id: i64, job: &Job) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE schedule_drafts SET draft = ? WHERE id = ? AND state IN ('pending', 'zone')",
        )
        .bind(job_json(job)?)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves draft `id` from state `from` to `to` once; `None` when it is not in `from`
    /// (a second press on a used card) or never existed.
    pub async fn move_schedule_draft(
        &self,
        id: i64,
        from: &str,
        to: &str,
    ) -> Result<Option<StoredDraft>> {
        let row: Option<DraftRow> = sqlx::query_as(concat!(
            "UPDATE schedule_drafts SET state = ? WHERE id = ? AND state = ? RETURNING ",
            draft_columns!()
        ))
        .bind(to)
        .bind(id)
        .bind(from)
        .fetch_optional(self.pool())
        .await?;
        row.map(draft_from_row).transpose()
    }

    /// Takes a pending draft once (`state`: `created` or `cancelled`); `None` when it was
    /// already taken (a second press) or never existed.
    pub async fn take_schedule_draft(&self, id: i64, state: &str) -> Result<Option<StoredDraft>> {
        self.move_schedule_draft(id, "pending", state).await
    }

    /// The chat's latest draft waiting for its zone question, made pending once (a zone was
    /// picked with `/schedule zone NAME`).
    pub async fn take_zone_draft(&self, chat: ChatId) -> Result<Option<StoredDraft>> {
        let row: Option<DraftRow> = sqlx::query_as(concat!(
            "UPDATE schedule_drafts SET state = 'pending'
             WHERE id = (SELECT max(id) FROM schedule_drafts WHERE chat_id = ? AND state = 'zone')
               AND state = 'zone'
             RETURNING ",
            draft_columns!()
        ))
        .bind(chat.0)
        .fetch_optional(self.pool())
        .await?;
        row.map(draft_from_row).transpose()
    }

    /// Holds a run of job `j` for `session` until it is idle; false when one is held
    /// already (a queue holds one run at most).
    pub async fn queue_run(
        &self,
        j: &StoredJob,
        session: &str,
        fired_at: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO schedule_queue (job_id, session, fired_at, queued_at, job, chat_id)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(job_id(j.job.id))
        .bind(session)
        .bind(fired_at.as_second())
        .bind(now_unix())
        .bind(job_json(&j.job)?)
        .bind(j.chat.map(|c| c.0))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn is_run_queued(&self, job: u64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM schedule_queue WHERE job_id = ?")
            .bind(job_id(job))
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Takes job `job`'s held run exactly once (whoever takes it delivers it).
    pub async fn take_queued_run(&self, job: u64) -> Result<Option<QueuedRun>> {
        let row: Option<QueueRow> = sqlx::query_as(
            "DELETE FROM schedule_queue WHERE job_id = ?
             RETURNING job_id, session, fired_at, job, chat_id",
        )
        .bind(job_id(job))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(queued_from_row))
    }

    /// Every held run (at start: their waits are resumed).
    pub async fn queued_runs(&self) -> Result<Vec<QueuedRun>> {
        let rows: Vec<QueueRow> = sqlx::query_as(
            "SELECT job_id, session, fired_at, job, chat_id FROM schedule_queue
             ORDER BY queued_at, job_id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(queued_from_row).collect())
    }
}

async fn bump(tx: &mut sqlx::SqliteConnection) -> Result<()> {
    sqlx::query("UPDATE schedule_generation SET value = value + 1 WHERE id = 1")
        .execute(tx)
        .await?;
    Ok(())
}
