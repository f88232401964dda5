//! Session records in SQLite, opened by `walkie-sqlite` (private files, WAL, `sqlx::migrate!`).
//!
//! The host writes a record when a session starts and whenever its state changes. At start the
//! host marks every record still `running` or `paused` as `lost`: its processes died with the
//! previous host, but its command, cwd and [`Revival`] are kept for `walkie revive`. Such a
//! record (and one a clean shutdown left) is also *pending*: the host's start-up revival
//! [`Store::claim`]s it, exactly once, so no record is brought back twice.

use std::path::{Path, PathBuf};

use sqlx::migrate::Migrator;
use sqlx::{Row, SqlitePool};

use walkie_host_proto::ask::Agent;
use walkie_host_proto::protocol::{SessionInfo, SessionState};
use walkie_host_proto::revival::AgentSession;

use crate::revive::Revival;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session database: {0}")]
    Open(#[from] walkie_sqlite::Error),
    #[error("session database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub cols: u16,
    pub rows: u16,
    pub created_ms: u64,
    pub state: SessionState,
    pub pid: Option<u32>,
    /// Whether the session is recorded.
    pub record: bool,
    pub revival: Revival,
}

impl Record {
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            name: self.name.clone(),
            state: self.state.clone(),
            command: self.command.clone(),
            cwd: self.cwd.clone(),
            pid: self.pid,
            created_ms: self.created_ms,
            idle_ms: None,
            cols: self.cols,
            rows: self.rows,
            clients: 0,
            agent: self.revival.agent.map(|agent| AgentSession {
                agent,
                id: self.revival.agent_id.clone(),
            }),
            preset: self.revival.preset.clone(),
            revive: None,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

fn state_parts(s: &SessionState) -> (&'static str, Option<i64>, Option<String>) {
    match s {
        SessionState::Running => ("running", None, None),
        SessionState::Paused => ("paused", None, None),
        SessionState::Exited { code, signal } => ("exited", code.map(i64::from), signal.clone()),
        SessionState::Lost => ("lost", None, None),
    }
}

impl Store {
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let pool = walkie_sqlite::open(path, &MIGRATOR).await?;
        Ok(Store { pool })
    }

    /// Marks what the previous host left running as lost (and pending revival); returns
    /// every record.
    pub async fn recover(&self) -> Result<Vec<Record>, StoreError> {
        sqlx::query(
            "UPDATE sessions SET state = 'lost', pid = NULL, revive_pending = 1 WHERE state IN ('running', 'paused')",
        )
        .execute(&self.pool)
        .await?;
        self.all().await
    }

    /// The names of the records pending revival.
    pub async fn pending(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT name FROM sessions WHERE revive_pending = 1 AND state = 'lost' ORDER BY created_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(StoreError::from))
            .collect()
    }

    /// Takes the pending revival of `name`: true for exactly one caller.
    pub async fn claim(&self, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE sessions SET revive_pending = 0 WHERE name = ? AND revive_pending = 1",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// At a clean shutdown: the session was running, so the next start revives it.
    pub async fn set_lost_pending(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET state = 'lost', revive_pending = 1 WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The agent's own session id of the session `name` started as `pid`.
    pub async fn set_agent_id(&self, name: &str, pid: u32, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET agent_id = ? WHERE name = ? AND pid = ?")
            .bind(id)
            .bind(name)
            .bind(i64::from(pid))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn all(&self) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, command, cwd, env, cols, rows, created_ms, state, pid, exit_code, exit_signal,
                    launch, preset, resume, agent, agent_id, record, sandbox, network FROM sessions ORDER BY created_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let state: String = r.try_get("state")?;
            let code: Option<i64> = r.try_get("exit_code")?;
            let signal: Option<String> = r.try_get("exit_signal")?;
            let state = match state.as_str() {
                "running" => SessionState::Running,
                "paused" => SessionState::Paused,
                "exited" => SessionState::Exited {
                    code: code.map(|c| c as u32),
                    signal,
                },
                _ => SessionState::Lost,
            };
            let command: String = r.try_get("command")?;
            let env: String = r.try_get("env")?;
            let cwd: String = r.try_get("cwd")?;
            let command: Vec<String> = serde_json::from_str(&command).unwrap_or_default();
            let json = |col: &str| -> Result<Option<Vec<String>>, sqlx::Error> {
                Ok(r.try_get::<Option<String>, _>(col)?
                    .and_then(|s| serde_json::from_str(&s).ok()))
            };
            let revival = Revival {
                launch: json("launch")?.unwrap_or_else(|| command.clone()),
                preset: r.try_get("preset")?,
                resume: json("resume")?,
                agent: r
                    .try_get::<Option<String>, _>("agent")?
                    .and_then(|a| Agent::from_label(&a)),
                agent_id: r.try_get("agent_id")?,
                sandbox: r.try_get("sandbox")?,
                network: r
                    .try_get::<Option<String>, _>("network")?
                    .and_then(|n| n.parse().ok()),
            };
            out.push(Record {
                name: r.try_get("name")?,
                command,
                cwd: cwd.into(),
                env: serde_json::from_str(&env).unwrap_or_default(),
                cols: r.try_get::<i64, _>("cols")? as u16,
                rows: r.try_get::<i64, _>("rows")? as u16,
                created_ms: r.try_get::<i64, _>("created_ms")? as u64,
                state,
                pid: r.try_get::<Option<i64>, _>("pid")?.map(|p| p as u32),
                record: r.try_get::<i64, _>("record")? != 0,
                revival,
            });
        }
        Ok(out)
    }

    /// Inserts or replaces a record.
    pub async fn put(&self, r: &Record) -> Result<(), StoreError> {
        let (state, code, signal) = state_parts(&r.state);
        sqlx::query(
            "INSERT OR REPLACE INTO sessions (name, command, cwd, env, cols, rows, created_ms, state, pid, exit_code, exit_signal,
                                              launch, preset, resume, agent, agent_id, record, sandbox, network, revive_pending)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        )
        .bind(&r.name)
        .bind(serde_json::to_string(&r.command).unwrap_or_else(|_| "[]".into()))
        .bind(r.cwd.to_string_lossy().into_owned())
        .bind(serde_json::to_string(&r.env).unwrap_or_else(|_| "[]".into()))
        .bind(i64::from(r.cols))
        .bind(i64::from(r.rows))
        .bind(r.created_ms as i64)
        .bind(state)
        .bind(r.pid.map(i64::from))
        .bind(code)
        .bind(signal)
        .bind(serde_json::to_string(&r.revival.launch).ok())
        .bind(&r.revival.preset)
        .bind(
            r.revival
                .resume
                .as_ref()
                .and_then(|t| serde_json::to_string(t).ok()),
        )
        .bind(r.revival.agent.map(Agent::label))
        .bind(&r.revival.agent_id)
        .bind(i64::from(r.record))
        .bind(&r.revival.sandbox)
        .bind(r.revival.network.map(|n| n.as_str()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_state(&self, name: &str, s: &SessionState) -> Result<(), StoreError> {
        let (state, code, signal) = state_parts(s);
        sqlx::query("UPDATE sessions SET state = ?, exit_code = ?, exit_signal = ? WHERE name = ?")
            .bind(state)
            .bind(code)
            .bind(signal)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the exit of the session `name` started as `pid` (not of a newer one with the
    /// same name). A record not written yet is left alone: its writer checks the exit itself.
    pub async fn set_exit(&self, name: &str, pid: u32, s: &SessionState) -> Result<(), StoreError> {
        let (state, code, signal) = state_parts(s);
        sqlx::query(
            "UPDATE sessions SET state = ?, exit_code = ?, exit_signal = ? WHERE name = ? AND pid = ?",
        )
        .bind(state)
        .bind(code)
        .bind(signal)
        .bind(name)
        .bind(i64::from(pid))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopen_as_lost() {
        let dir = tempfile::tempdir().unwrap();
        // Characters a URL would take for a query or a fragment.
        let state = dir.path().join("state?x=1#y");
        std::fs::create_dir(&state).unwrap();
        let db = state.join("host.db");
        let s = Store::open(&db).await.unwrap();
        let rec = Record {
            name: "a".into(),
            command: vec!["bash".into()],
            cwd: "/tmp".into(),
            env: vec![("K".into(), "V".into())],
            cols: 80,
            rows: 24,
            created_ms: 5,
            state: SessionState::Running,
            pid: Some(9),
            record: false,
            revival: Revival {
                launch: vec!["claude".into()],
                preset: Some("claude".into()),
                resume: Some(vec!["claude".into(), "-r".into(), "{id}".into()]),
                agent: Some(Agent::ClaudeCode),
                agent_id: Some("3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b".into()),
                sandbox: Some("workspace".into()),
                network: Some(walkie_host_proto::sandbox::NetworkMode::Off),
            },
        };
        s.put(&Record {
            revival: Revival::default(),
            ..rec.clone()
        })
        .await
        .unwrap();
        s.put(&rec).await.unwrap();
        // The id of the session started as pid 9 only.
        s.set_agent_id("a", 8, "01a23126-5f5e-7b90-baf7-7c06f24e974b")
            .await
            .unwrap();
        s.put(&Record {
            name: "b".into(),
            state: SessionState::Exited {
                code: Some(2),
                signal: None,
            },
            created_ms: 6,
            ..rec.clone()
        })
        .await
        .unwrap();
        s.close().await;
        assert!(db.is_file(), "the database is where it was asked to be");
        let s = Store::open(&db).await.unwrap();
        let all = s.recover().await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].state, SessionState::Lost);
        assert_eq!(all[0].pid, None);
        assert_eq!(all[0].env, rec.env);
        assert_eq!(all[0].revival, rec.revival);
        assert!(!all[0].record);
        // The lost record is pending revival, once; the exited one is not.
        assert_eq!(s.pending().await.unwrap(), ["a"]);
        assert!(s.claim("a").await.unwrap());
        assert!(!s.claim("a").await.unwrap(), "never twice");
        assert!(!s.claim("b").await.unwrap());
        assert!(s.pending().await.unwrap().is_empty());
        assert_eq!(
            all[1].state,
            SessionState::Exited {
                code: Some(2),
                signal: None
            }
        );
        s.remove("a").await.unwrap();
        assert_eq!(s.all().await.unwrap().len(), 1);
    }
}
