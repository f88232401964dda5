//! Where a session started from the phone runs, and what else it gets from walkie's config.
//!
//! `/new NAME PRESET DIR` runs in DIR ([`presets::session_dir`]: `~`, absolute, or under
//! `projects_dir`); without DIR, in the preset's `cwd`; without either, the phone is offered
//! buttons: the directories of earlier sessions (this store's `session_dirs`), the folders of
//! `projects_dir`, and `~`. With nothing to offer but `~`, the session runs in the host's
//! home at once, as before directories existed. A directory that does not exist is refused
//! with a one-line answer saying what works.
//!
//! Sessions from the phone also get the environment file ([`phone_env`]): what a terminal's
//! environment is to `walkie new`, for sessions whose host was started elsewhere (by
//! systemd, or by a client in a plain shell).

use std::path::{Path, PathBuf};

use walkie_config::Config;

use crate::front::{ChatId, MessageRef};
use crate::presets::{self, PresetError};
use crate::session::SessionRef;
use crate::store::{now_unix, Store, StoreError};

/// Most recent directories offered as buttons.
const RECENT: usize = 6;
/// Most `projects_dir` folders offered as buttons (most recently changed first).
const PROJECTS: usize = 8;
/// Unanswered choices are forgotten after this (seconds).
const CHOICE_TTL_S: i64 = 24 * 3600;

/// Why a session cannot start where it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    /// The one-line answer for the user.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a `/new` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In this directory.
    Dir(PathBuf),
    /// In the host's default (its home): nothing was given and there is nothing to choose.
    Home,
    /// Ask which: these directories, the likeliest first (`~` last).
    Choose(Vec<PathBuf>),
}

/// Where `/new NAME [PRESET] [DIR]` runs. `preset` is `None` for a plain command or the
/// default shell, which never ask. `home` is where `~` points (the bot's `$HOME`).
pub async fn place(
    cfg: &Config,
    store: &Store,
    preset: Option<&str>,
    dir: Option<&str>,
    home: Option<&Path>,
) -> Result<Place, WorkdirError> {
    let refused = |e: PresetError, what: &str| {
        WorkdirError::Refused(format!(
            "{e}. {what} takes ~ or ~/DIR, an absolute path{}.",
            match &cfg.projects_dir {
                Some(p) => format!(", or a folder of projects_dir ({})", p.display()),
                None => String::new(),
            }
        ))
    };
    if let Some(d) = dir {
        let what = "/new NAME PRESET DIR (or /new NAME -- COMMAND ARGS to run a command)";
        return presets::session_dir(cfg, d, home)
            .map(Place::Dir)
            .map_err(|e| refused(e, what));
    }
    let Some(preset) = preset else {
        return Ok(Place::Home);
    };
    if let Some(cwd) = cfg.presets.get(preset).and_then(|p| p.cwd.as_ref()) {
        let what = format!("presets.{preset}.cwd in the config");
        return presets::session_dir(cfg, &cwd.to_string_lossy(), home)
            .map(Place::Dir)
            .map_err(|e| refused(e, &what));
    }
    let mut dirs = store.recent_dirs(RECENT).await?;
    if let Some(p) = presets::projects_dir(cfg, home) {
        for d in project_folders(&p, PROJECTS) {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    let Some(home) = home else {
        return Ok(if dirs.is_empty() {
            Place::Home
        } else {
            Place::Choose(dirs)
        });
    };
    dirs.retain(|d| d != home);
    if dirs.is_empty() {
        return Ok(Place::Home);
    }
    dirs.push(home.to_path_buf());
    Ok(Place::Choose(dirs))
}

/// `dir` as a button shows it: under `home` as `~/...`, and at most `max` characters (the
/// end kept, it names the project).
pub fn short_dir(dir: &Path, home: Option<&Path>, max: usize) -> String {
    let s = match home.and_then(|h| dir.strip_prefix(h).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => "~".to_string(),
        Some(rel) => format!("~/{}", rel.display()),
        None => dir.display().to_string(),
    };
    let n = s.chars().count();
    if n <= max {
        return s;
    }
    let tail: String = s.chars().skip(n + 1 - max).collect();
    format!("…{tail}")
}

/// The folders of `projects`, not hidden, most recently changed first.
fn project_folders(projects: &Path, max: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(projects) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let m = std::fs::metadata(e.path()).ok()?;
            let modified = m.modified().ok()?;
            m.is_dir().then(|| (modified, e.path()))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().take(max).map(|(_, p)| p).collect()
}

/// The environment file's variables for a session started from the phone (secrets left
/// out). The configured `[host] env_file` must exist; the default
/// (`$XDG_CONFIG_HOME/walkie/agents.env`) is used only if it does.
pub fn phone_env(cfg: &Config) -> Result<Vec<(String, String)>, WorkdirError> {
    let (path, required) = match &cfg.host.env_file {
        Some(p) => (p.clone(), true),
        None => match default_env_file() {
            Some(p) => (p, false),
            None => return Ok(Vec::new()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Vec::new()),
        Err(e) => {
            return Err(WorkdirError::Refused(format!(
                "Cannot read the environment file {} ([host] env_file): {e}",
                path.display()
            )))
        }
    };
    let secrets = cfg.secret_env_names();
    let mut vars = parse_env_file(&text).map_err(|(line, why)| {
        WorkdirError::Refused(format!(
            "The environment file {} is not valid at line {line}: {why}",
            path.display()
        ))
    })?;
    vars.retain(|(k, _)| !secrets.contains(k));
    Ok(vars)
}

/// `$XDG_CONFIG_HOME/walkie/agents.env`, else `~/.config/walkie/agents.env`.
fn default_env_file() -> Option<PathBuf> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    walkie_config::paths::config_file_with(&get).map(|f| f.with_file_name("agents.env"))
}

/// `KEY=value` lines as systemd's `EnvironmentFile=` reads them, so one file serves the
/// host's unit and the bot: blank lines and `#`/`;` comments skipped, whitespace around key
/// and value trimmed, a value in matching single or double quotes unquoted (`\"` and `\\`
/// inside double quotes), no `$VAR` expansion. A line that is not an assignment is an error
/// (line number, why) rather than silently skipped.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err((n, "expected KEY=value".into()));
        };
        let key = key.trim();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((n, format!("{key:?} is not a variable name")));
        }
        let value = unquote(value.trim()).ok_or((n, "unmatched quote".to_string()))?;
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn unquote(v: &str) -> Option<String> {
    let first = v.chars().next();
    match first {
        Some(q @ ('"' | '\'')) => {
            let inner = v.strip_prefix(q)?.strip_suffix(q)?;
            if q == '\'' {
                return Some(inner.to_string());
            }
            let mut s = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match (c, chars.clone().next()) {
                    ('\\', Some(e @ ('"' | '\\'))) => {
                        s.push(e);
                        chars.next();
                    }
                    _ => s.push(c),
                }
            }
            Some(s)
        }
        _ => Some(v.to_string()),
    }
}

/// A `/new NAME PRESET` waiting for its directory button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirChoice {
    pub chat: ChatId,
    pub name: String,
    pub preset: String,
    pub dirs: Vec<PathBuf>,
    /// The `--sandbox` / `--network` flags of that `/new`, kept for the press.
    pub boundary: crate::requests::SandboxChoice,
}

impl Store {
    /// Records that a session from the phone ran in `dir`.
    pub async fn remember_dir(&self, dir: &Path) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_dirs (dir, used_at) VALUES (?, ?)
             ON CONFLICT (dir) DO UPDATE SET used_at = excluded.used_at",
        )
        .bind(dir.to_string_lossy().into_owned())
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Up to `n` directories of earlier sessions that still exist, the latest first.
    pub async fn recent_dirs(&self, n: usize) -> Result<Vec<PathBuf>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT dir FROM session_dirs ORDER BY used_at DESC, rowid DESC")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(d,)| PathBuf::from(d))
            .filter(|d| d.is_dir())
            .take(n)
            .collect())
    }

    /// Saves a choice to offer; returns its id (for the buttons). Forgets stale ones.
    pub async fn save_dir_choice(&self, c: &DirChoice) -> Result<i64, StoreError> {
        let now = now_unix();
        sqlx::query("DELETE FROM dir_choices WHERE created_at < ?")
            .bind(now - CHOICE_TTL_S)
            .execute(self.pool())
            .await?;
        let dirs: Vec<String> = c
            .dirs
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        let dirs = serde_json::Value::from(dirs).to_string();
        let id = sqlx::query(
            "INSERT INTO dir_choices (chat_id, name, preset, dirs, created_at, sandbox, network)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.chat.0)
        .bind(&c.name)
        .bind(&c.preset)
        .bind(dirs)
        .bind(now)
        .bind(c.boundary.profile.as_deref())
        .bind(c.boundary.network.map(|n| n.as_str()))
        .execute(self.pool())
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    /// Takes choice `id` of `chat` (only the first press gets it).
    pub async fn take_dir_choice(
        &self,
        id: i64,
        chat: ChatId,
    ) -> Result<Option<DirChoice>, StoreError> {
        type Row = (String, String, String, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "DELETE FROM dir_choices WHERE id = ? AND chat_id = ?
             RETURNING name, preset, dirs, sandbox, network",
        )
        .bind(id)
        .bind(chat.0)
        .fetch_optional(self.pool())
        .await?;
        let Some((name, preset, dirs, sandbox, network)) = row else {
            return Ok(None);
        };
        let dirs: Vec<String> = serde_json::from_str(&dirs).map_err(|_| StoreError::Corrupt {
            what: "directory choice",
            value: dirs.clone(),
        })?;
        let network = match network {
            Some(n) => Some(n.parse().map_err(|_| StoreError::Corrupt {
                what: "directory choice's network mode",
                value: n.clone(),
            })?),
            None => None,
        };
        Ok(Some(DirChoice {
            chat,
            name,
            preset,
            dirs: dirs.into_iter().map(PathBuf::from).collect(),
            boundary: crate::requests::SandboxChoice {
                profile: sandbox,
                network,
            },
        }))
    }

    /// What `session`'s live message in `chat` shows now, as last sent.
    pub async fn live_shown(
        &self,
        chat: ChatId,
        session: &SessionRef,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT shown FROM live_screens WHERE chat_id = ? AND host = ? AND session = ?",
        )
        .bind(chat.0)
        .bind(&session.host)
        .bind(&session.name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| r.0))
    }

    /// Records the message now showing `session`'s live screen in `chat` and what it shows,
    /// in one write (a stop between two would leave a new message with an old text).
    pub async fn set_live_message_shown(
        &self,
        chat: ChatId,
        session: &SessionRef,
        message: MessageRef,
        html: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO live_screens (chat_id, host, session, message_id, updated_at, shown)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (chat_id, host, session) DO UPDATE SET message_id = excluded.message_id,
                 updated_at = excluded.updated_at, shown = excluded.shown",
        )
        .bind(chat.0)
        .bind(&session.host)
        .bind(&session.name)
        .bind(message.0)
        .bind(now_unix())
        .bind(html)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records what `session`'s live message in `chat` now shows.
    pub async fn set_live_shown(
        &self,
        chat: ChatId,
        session: &SessionRef,
        html: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE live_screens SET shown = ? WHERE chat_id = ? AND host = ? AND session = ?",
        )
        .bind(html)
        .bind(chat.0)
        .bind(&session.host)
        .bind(&session.name)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn setup() -> (tempfile::TempDir, Config, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("src/api")).unwrap();
        std::fs::create_dir_all(dir.path().join("projects/web")).unwrap();
        std::fs::create_dir_all(dir.path().join("projects/.hidden")).unwrap();
        std::fs::write(dir.path().join("projects/notes.txt"), "x").unwrap();
        let cfg = Config {
            state_dir: Some(dir.path().join("state")),
            ..Config::default()
        };
        (dir, cfg, home)
    }

    #[test]
    fn a_dir_a_preset_cwd_a_choice_or_home() {
        run(async {
            let (dir, mut cfg, home) = setup();
            let store = Store::open_in(&cfg.state_dir()).await.unwrap();
            let h = Some(home.as_path());
            // Nothing to choose from: the host's home at once.
            assert_eq!(
                place(&cfg, &store, Some("claude"), None, h).await.unwrap(),
                Place::Home
            );
            // A plain command never asks.
            assert_eq!(
                place(&cfg, &store, None, None, h).await.unwrap(),
                Place::Home
            );
            assert_eq!(
                place(&cfg, &store, Some("claude"), Some("~/src/api"), h)
                    .await
                    .unwrap(),
                Place::Dir(home.join("src/api"))
            );
            let err = place(&cfg, &store, Some("claude"), Some("~/nope"), h)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("nope is not a directory"), "{err}");
            assert!(err.contains("/new NAME -- COMMAND"), "{err}");
            // Configured folders and recent dirs are offered, ~ last.
            cfg.projects_dir = Some(dir.path().join("projects"));
            store.remember_dir(&home.join("src/api")).await.unwrap();
            store.remember_dir(&dir.path().join("gone")).await.unwrap();
            let choice = place(&cfg, &store, Some("claude"), None, h).await.unwrap();
            assert_eq!(
                choice,
                Place::Choose(vec![
                    home.join("src/api"),
                    dir.path().join("projects/web"),
                    home.clone()
                ])
            );
            // A relative DIR is a folder of projects_dir.
            assert_eq!(
                place(&cfg, &store, Some("claude"), Some("web"), h)
                    .await
                    .unwrap(),
                Place::Dir(dir.path().join("projects/web"))
            );
            // The preset's cwd wins over asking; a bad one is named.
            cfg.presets.get_mut("claude").unwrap().cwd = Some("~/src/api".into());
            assert_eq!(
                place(&cfg, &store, Some("claude"), None, h).await.unwrap(),
                Place::Dir(home.join("src/api"))
            );
            cfg.presets.get_mut("claude").unwrap().cwd = Some("/nonexistent/x".into());
            let err = place(&cfg, &store, Some("claude"), None, h)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("presets.claude.cwd"), "{err}");
            store.close().await;
        });
    }

    #[test]
    fn a_choice_is_taken_once_and_only_by_its_chat() {
        run(async {
            let (_dir, cfg, home) = setup();
            let store = Store::open_in(&cfg.state_dir()).await.unwrap();
            let c = DirChoice {
                chat: ChatId(7),
                name: "cc".into(),
                preset: "claude".into(),
                dirs: vec![home.join("src/api"), home.clone()],
                boundary: crate::requests::SandboxChoice {
                    profile: Some("readonly".into()),
                    network: Some(walkie_host_proto::sandbox::NetworkMode::Off),
                },
            };
            let id = store.save_dir_choice(&c).await.unwrap();
            assert_eq!(store.take_dir_choice(id, ChatId(8)).await.unwrap(), None);
            assert_eq!(store.take_dir_choice(id, ChatId(7)).await.unwrap(), Some(c));
            assert_eq!(store.take_dir_choice(id, ChatId(7)).await.unwrap(), None);
            store.close().await;
        });
    }

    #[test]
    fn buttons_show_dirs_under_home_short() {
        let home = Path::new("/home/me");
        assert_eq!(short_dir(home, Some(home), 30), "~");
        assert_eq!(
            short_dir(Path::new("/home/me/src/api"), Some(home), 30),
            "~/src/api"
        );
        assert_eq!(short_dir(Path::new("/srv/x"), Some(home), 30), "/srv/x");
        assert_eq!(
            short_dir(Path::new("/srv/a-very-long-name/project"), None, 12),
            "…ame/project"
        );
    }

    #[test]
    fn env_files_read_as_systemd_does() {
        let text = "# agents\n\nPATH=/opt/node/bin:/usr/bin\n; also a comment\n  ANTHROPIC_API_KEY = \"sk-1 \\\"q\\\"\"\nA='$HOME x'\nB=$HOME\nA=again\n";
        assert_eq!(
            parse_env_file(text).unwrap(),
            vec![
                ("PATH".to_string(), "/opt/node/bin:/usr/bin".to_string()),
                ("ANTHROPIC_API_KEY".to_string(), "sk-1 \"q\"".to_string()),
                ("B".to_string(), "$HOME".to_string()),
                ("A".to_string(), "again".to_string()),
            ]
        );
        assert_eq!(parse_env_file("X\n").unwrap_err().0, 1);
        assert_eq!(parse_env_file("\nexport X=1\n").unwrap_err().0, 2);
        assert_eq!(parse_env_file("X=\"open\n").unwrap_err().0, 1);
    }

    #[test]
    fn the_env_file_reaches_phone_sessions_without_secrets() {
        let (dir, mut cfg, _home) = setup();
        let file = dir.path().join("agents.env");
        std::fs::write(
            &file,
            "OPENAI_API_KEY=sk-x\nTELEGRAM_BOT_TOKEN=1:2\nMY_SECRET=s\n",
        )
        .unwrap();
        cfg.secret_env = vec!["MY_SECRET".into()];
        cfg.host.env_file = Some(file.clone());
        assert_eq!(
            phone_env(&cfg).unwrap(),
            vec![("OPENAI_API_KEY".to_string(), "sk-x".to_string())]
        );
        std::fs::write(&file, "not an assignment\n").unwrap();
        let err = phone_env(&cfg).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        // A configured file that is missing is an error, not an empty environment.
        cfg.host.env_file = Some(dir.path().join("missing.env"));
        assert!(phone_env(&cfg).is_err());
    }
}
