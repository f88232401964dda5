//! Approvals in the bot's SQLite store: each ask the host announced (as the approval
//! model's JSON), the messages showing it, and the "approve for this session" rules.
//!
//! The host decides exactly once (first decision wins), but the bot must also never show
//! two different outcomes: [`Store::settle_approval`] changes a row only while it is
//! `pending` (`UPDATE ... WHERE state = 'pending'`), so of a button press and the host's
//! "closed" event arriving at the same moment, one edits the cards and the other sees that
//! it was too late. Everything survives a bot restart, so the buttons keep working.
//!
//! An approval's session is an address (`api`, `api@cloud`, as the fleet names it); the
//! rows keep it as their `host` and `session` columns.

use crate::front::{ChatId, MessageRef};
use crate::session::SessionRef;
use crate::store::{Result, Store, StoreError};
use walkie_approval::model::{Approval, ApprovalId, State};
use walkie_approval::policy::{SessionApprovals, SessionRule};

/// A message showing an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalCard {
    pub chat: ChatId,
    pub message: MessageRef,
    /// Whether it carries the decision buttons (viewers' copies do not).
    pub buttons: bool,
}

/// SQLite keeps signed 64-bit integers; host ask ids are far below `i64::MAX` (they start
/// from the host's start time in microseconds).
fn sql_id(id: ApprovalId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

fn state_of(a: &Approval) -> &'static str {
    match a.state {
        State::Pending => "pending",
        State::Decided(_) => "decided",
    }
}

fn to_json(a: &Approval) -> Result<String> {
    serde_json::to_string(a).map_err(|e| StoreError::Corrupt {
        what: "approval",
        value: e.to_string(),
    })
}

fn from_json(s: &str) -> Result<Approval> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what: "approval",
        value: format!("{e}: {s}"),
    })
}

impl Store {
    /// Records an approval announced by the host process `host_pid`. False if it was
    /// already known (the host announces pending asks again to every new watcher).
    pub async fn add_approval(&self, a: &Approval, host_pid: u32) -> Result<bool> {
        let at = SessionRef::address(&a.session);
        let done = sqlx::query(
            "INSERT OR IGNORE INTO approvals (id, host, session, approval, state, host_pid, created_ms, decided_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sql_id(a.id))
        .bind(&at.host)
        .bind(&at.name)
        .bind(to_json(a)?)
        .bind(state_of(a))
        .bind(i64::from(host_pid))
        .bind(a.created_ms as i64)
        .bind(a.decided().map(|d| d.at_ms as i64))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn approval(&self, id: ApprovalId) -> Result<Option<Approval>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT approval FROM approvals WHERE id = ?")
            .bind(sql_id(id))
            .fetch_optional(self.pool())
            .await?;
        row.map(|(s,)| from_json(&s)).transpose()
    }

    /// Stores `a`'s decision if the approval is still pending; false if something else
    /// decided it first (then nothing changes).
    pub async fn settle_approval(&self, a: &Approval) -> Result<bool> {
        let Some(d) = a.decided() else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE approvals SET approval = ?, state = 'decided', decided_ms = ?
             WHERE id = ? AND state = 'pending'",
        )
        .bind(to_json(a)?)
        .bind(d.at_ms as i64)
        .bind(sql_id(a.id))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the stored approval whatever its state: for correcting a decision the host
    /// refused (the ask had gone), or putting one back to pending when the host could not
    /// be reached.
    pub async fn replace_approval(&self, a: &Approval) -> Result<()> {
        sqlx::query("UPDATE approvals SET approval = ?, state = ?, decided_ms = ? WHERE id = ?")
            .bind(to_json(a)?)
            .bind(state_of(a))
            .bind(a.decided().map(|d| d.at_ms as i64))
            .bind(sql_id(a.id))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Pending approvals with the host process that announced them, oldest first.
    pub async fn pending_approvals(&self) -> Result<Vec<(Approval, u32)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT approval, host_pid FROM approvals WHERE state = 'pending' ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(s, pid)| Ok((from_json(&s)?, u32::try_from(pid).unwrap_or(0))))
            .collect()
    }

    /// Pending approvals asked before `before_ms`, still open at `now_ms`, that no chat has a
    /// card of: nobody can decide them on the phone (`walkie ls` lists them; the bot's log
    /// says why their cards could not be posted). Oldest first.
    pub async fn unposted_approvals(&self, before_ms: u64, now_ms: u64) -> Result<Vec<Approval>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT approval FROM approvals a WHERE state = 'pending' AND created_ms < ?
               AND NOT EXISTS (SELECT 1 FROM approval_cards c WHERE c.approval_id = a.id)
             ORDER BY id",
        )
        .bind(before_ms as i64)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for (s,) in rows {
            let a: Approval = from_json(&s)?;
            if a.deadline_ms > now_ms {
                out.push(a);
            }
        }
        Ok(out)
    }

    pub async fn add_approval_card(&self, id: ApprovalId, card: ApprovalCard) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO approval_cards (approval_id, chat_id, message_id, buttons)
             VALUES (?, ?, ?, ?)",
        )
        .bind(sql_id(id))
        .bind(card.chat.0)
        .bind(card.message.0)
        .bind(i64::from(card.buttons))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn approval_cards(&self, id: ApprovalId) -> Result<Vec<ApprovalCard>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT chat_id, message_id, buttons FROM approval_cards
             WHERE approval_id = ? ORDER BY chat_id",
        )
        .bind(sql_id(id))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(chat, message, buttons)| ApprovalCard {
                chat: ChatId(chat),
                message: MessageRef(message),
                buttons: buttons != 0,
            })
            .collect())
    }

    /// The chats that work with `session`: it is their current session, or they have its
    /// live screen.
    pub async fn chats_of_session(&self, session: &str) -> Result<Vec<ChatId>> {
        let at = SessionRef::address(session);
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT chat_id FROM chats WHERE current_host = ? AND current_session = ?
             UNION SELECT chat_id FROM live_screens WHERE host = ? AND session = ?
             ORDER BY 1",
        )
        .bind(&at.host)
        .bind(&at.name)
        .bind(&at.host)
        .bind(&at.name)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| ChatId(r.0)).collect())
    }

    /// Every session some chat works with (current session, or a live screen): the
    /// sessions whose screens are watched for prompts.
    pub async fn watched_sessions(&self) -> Result<Vec<String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT current_host, current_session FROM chats WHERE current_session IS NOT NULL
             UNION SELECT host, session FROM live_screens
             ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?;
        // As addresses (`api`, `api@cloud`), as the fleet names them.
        Ok(rows
            .into_iter()
            .map(|(host, name)| SessionRef { host, name }.to_string())
            .collect())
    }

    /// The approvals of `session` created at or after `since_ms`, pending or decided.
    pub async fn recent_approvals(&self, session: &str, since_ms: u64) -> Result<Vec<Approval>> {
        let at = SessionRef::address(session);
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT approval FROM approvals WHERE host = ? AND session = ? AND created_ms >= ? ORDER BY id",
        )
        .bind(&at.host)
        .bind(&at.name)
        .bind(since_ms as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(|(s,)| from_json(&s)).collect()
    }

    /// The "approve for this session" rules of the session `session` created at
    /// `created_ms`.
    pub async fn session_approvals(
        &self,
        session: &str,
        created_ms: u64,
    ) -> Result<SessionApprovals> {
        let at = SessionRef::address(session);
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT rule FROM approval_session_rules WHERE host = ? AND session = ? AND created_ms = ?
             ORDER BY added_ms",
        )
        .bind(&at.host)
        .bind(&at.name)
        .bind(created_ms as i64)
        .fetch_all(self.pool())
        .await?;
        let mut out = SessionApprovals::default();
        for (r,) in rows {
            let rule: SessionRule = serde_json::from_str(&r).map_err(|e| StoreError::Corrupt {
                what: "session rule",
                value: format!("{e}: {r}"),
            })?;
            out.add(rule);
        }
        Ok(out)
    }

    pub async fn add_session_approval(
        &self,
        session: &str,
        created_ms: u64,
        rule: &SessionRule,
        now_ms: u64,
    ) -> Result<()> {
        let json = serde_json::to_string(rule).map_err(|e| StoreError::Corrupt {
            what: "session rule",
            value: e.to_string(),
        })?;
        let at = SessionRef::address(session);
        sqlx::query(
            "INSERT OR IGNORE INTO approval_session_rules (host, session, created_ms, rule, added_ms)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&at.host)
        .bind(&at.name)
        .bind(created_ms as i64)
        .bind(json)
        .bind(now_ms as i64)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkie_approval::model::{Answer, Decider, Subject, DEFAULT_TIMEOUT};

    fn ask(id: u64) -> Approval {
        Approval::new(
            ApprovalId(id),
            "ops",
            Subject::Ask {
                question: "deploy?".into(),
            },
            1_000,
            DEFAULT_TIMEOUT,
        )
    }

    #[tokio::test]
    async fn a_remote_sessions_approval_is_kept_with_its_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).await.expect("open");
        let mut a = ask(1_795_000_000_000_000u64 | (1 << 56));
        a.session = "ops@cloud".into();
        assert!(store.add_approval(&a, 42).await.unwrap());
        let row: (String, String) = sqlx::query_as("SELECT host, session FROM approvals")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(row, ("cloud".to_string(), "ops".to_string()));
        assert_eq!(
            store.recent_approvals("ops@cloud", 0).await.unwrap().len(),
            1
        );
        assert!(store.recent_approvals("ops", 0).await.unwrap().is_empty());
        // A chat whose current session is on the cloud works with it, not with ops here.
        store
            .set_current_session(ChatId(7), Some(&SessionRef::address("ops@cloud")))
            .await
            .unwrap();
        assert_eq!(
            store.chats_of_session("ops@cloud").await.unwrap(),
            [ChatId(7)]
        );
        assert!(store.chats_of_session("ops").await.unwrap().is_empty());
        assert_eq!(store.watched_sessions().await.unwrap(), ["ops@cloud"]);
    }

    #[tokio::test]
    async fn one_decision_stands_and_rows_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).await.expect("open");
        let id = 1_795_000_000_000_000u64;
        let a = ask(id);
        assert!(store.add_approval(&a, 42).await.unwrap());
        assert!(
            !store.add_approval(&a, 42).await.unwrap(),
            "announced again"
        );
        let card = ApprovalCard {
            chat: ChatId(7),
            message: MessageRef(3),
            buttons: true,
        };
        store.add_approval_card(a.id, card).await.unwrap();

        let mut first = a.clone();
        first
            .decide(
                Answer::Approve,
                Decider::Phone {
                    user_id: 7,
                    name: "ana".into(),
                },
                2_000,
            )
            .unwrap();
        let mut second = a.clone();
        second
            .decide(Answer::Deny, Decider::Timeout, 2_001)
            .unwrap();
        assert!(store.settle_approval(&first).await.unwrap());
        assert!(!store.settle_approval(&second).await.unwrap());
        store.close().await;

        let store = Store::open_in(dir.path()).await.expect("reopen");
        assert_eq!(store.approval(a.id).await.unwrap(), Some(first));
        assert_eq!(store.approval_cards(a.id).await.unwrap(), vec![card]);
        assert!(store.pending_approvals().await.unwrap().is_empty());
        store.replace_approval(&a).await.unwrap();
        assert_eq!(store.pending_approvals().await.unwrap(), vec![(a, 42)]);
    }

    #[tokio::test]
    async fn session_rules_belong_to_one_session_instance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).await.expect("open");
        let rule = SessionRule::for_request("Bash", Some("cargo test --lib"));
        store.add_session_approval("s", 10, &rule, 1).await.unwrap();
        store.add_session_approval("s", 10, &rule, 2).await.unwrap();
        assert_eq!(
            store.session_approvals("s", 10).await.unwrap().rules(),
            [rule]
        );
        // Same name, another session: nothing carried over.
        assert!(store
            .session_approvals("s", 11)
            .await
            .unwrap()
            .rules()
            .is_empty());
    }
}
