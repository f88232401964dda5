//! The Claude Code preset's `CLAUDE_CONFIG_DIR`: a config directory of walkie's own per preset,
//! `<state>/claude-home/<preset>/`, so that Claude can save its global state inside a boundary
//! (issue 17) and nothing walkie writes lands in the user's `~/.claude` or `~/.claude.json`.
//!
//! Claude Code 2.1.330 keeps its global state (onboarding, folder trust, seen notices, startup
//! counts) in `.claude.json`, at `$CLAUDE_CONFIG_DIR/.claude.json` when the variable is set and
//! `~/.claude.json` otherwise, and saves it through a lock directory and a temporary file renamed
//! next to it. Inside the `workspace` boundary `$HOME` is read-only, so without a directory of its
//! own it could not save it and showed its first-run dialogs again on every start. bubblewrap
//! 0.8.0 (Debian 12) has no `--overlay` to give `$HOME` a writable upper layer, so walkie gives
//! Claude this directory, rebuilt at every session start:
//!
//! | entry | kind | why |
//! | --- | --- | --- |
//! | `.claude.json` | real file: the user's, merged with what Claude saved in walkie's copy before | Claude rewrites it; the user's onboarding and folder trust come along, and a dialog answered in a walkie session stays answered |
//! | every entry of the user's `~/.claude` (`settings.json`, `.credentials.json`, `projects/`, `agents/`, `commands/`, `plugins/`, `todos/`, ...) | symlinks to the user's | credentials, settings, agents and commands are the user's; transcripts land in the user's `projects/`, so `claude --resume ID` works from either side |
//! | what Claude makes that the user has not (a first `projects/` when the user has none) | Claude's, in walkie's copy | walkie never creates anything in the user's `~/.claude`; a session is resumed from this copy (`CLAUDE_CONFIG_DIR` is kept with the session) |
//!
//! The rule is every Claude session from a preset, whatever its profile: a session's boundary
//! changes by a restart (Edit boundary, `--sandbox off` on `/new`), and its state must be the
//! same on both sides of that. Only the agent writes through the links; walkie itself only
//! reads the user's files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use walkie_host_proto::sandbox::CLAUDE_HOME_DIR;

/// The name of Claude's global state file inside a config directory.
const GLOBAL_FILE: &str = ".claude.json";

/// (Re)builds walkie's Claude config directory for preset `preset` under `state_dir`, from the
/// user's (`CLAUDE_CONFIG_DIR`, else `$HOME/.claude`, as `preset_env` or else walkie's own
/// environment gives them), and returns it: the session's `CLAUDE_CONFIG_DIR`.
pub(crate) fn prepare(
    state_dir: &Path,
    preset: &str,
    preset_env: &BTreeMap<String, String>,
) -> std::io::Result<PathBuf> {
    let dir = state_dir.join(CLAUDE_HOME_DIR).join(preset);
    std::fs::create_dir_all(&dir)?;
    let user = UserClaude::of(preset_env);
    // The user's own CLAUDE_CONFIG_DIR naming walkie's copy would link it to itself.
    let user_dir = user.dir.filter(|d| !same_dir(d, &dir));
    write_global(&dir, user.global.as_deref())?;
    link_entries(&dir, user_dir.as_deref())?;
    Ok(dir)
}

/// Where the user's Claude keeps its state.
struct UserClaude {
    /// The user's config directory (`~/.claude`).
    dir: Option<PathBuf>,
    /// The user's `.claude.json`.
    global: Option<PathBuf>,
}

impl UserClaude {
    fn of(preset_env: &BTreeMap<String, String>) -> UserClaude {
        let var = |k: &str| {
            preset_env
                .get(k)
                .map(std::ffi::OsString::from)
                .or_else(|| std::env::var_os(k))
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        match var("CLAUDE_CONFIG_DIR") {
            Some(d) => UserClaude {
                global: Some(d.join(GLOBAL_FILE)),
                dir: Some(d),
            },
            None => {
                let home = var("HOME");
                UserClaude {
                    dir: home.as_ref().map(|h| h.join(".claude")),
                    global: home.map(|h| h.join(GLOBAL_FILE)),
                }
            }
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Writes walkie's `.claude.json`: the user's merged with the copy Claude saved before
/// ([`merge`]). An unreadable or non-JSON user file leaves the old copy as it is (Claude's own
/// state stays usable); written aside and renamed, as Claude itself does, since another
/// session of the preset may be reading it.
fn write_global(dir: &Path, user_file: Option<&Path>) -> std::io::Result<()> {
    let path = dir.join(GLOBAL_FILE);
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .filter(Value::is_object)
    };
    let old = read(&path);
    let user = match user_file {
        Some(f) if f.exists() => match read(f) {
            Some(v) => Some(v),
            None => {
                tracing::warn!(file = %f.display(), "the user's Claude state is not a JSON object; walkie's copy is kept as it was");
                return Ok(());
            }
        },
        _ => None,
    };
    let merged = match (user, old) {
        (Some(u), Some(o)) => merge(u, o),
        (Some(u), None) => u,
        (None, Some(_)) => return Ok(()),
        (None, None) => Value::Object(Default::default()),
    };
    let tmp = dir.join(".claude.json.walkie-new");
    std::fs::write(&tmp, merged.to_string())?;
    std::fs::rename(&tmp, &path)
}

/// The user's state with what Claude saved in walkie's copy: the user's values win, except
/// that keys only walkie's copy has are kept (project entries, counters Claude added there), and
/// a `has...` flag Claude set to `true` there (onboarding done, folder trusted, a notice seen:
/// a first-run dialog answered in a walkie session) stays `true`, so the dialog does not come
/// back. Objects merge key by key.
fn merge(user: Value, old: Value) -> Value {
    match (user, old) {
        (Value::Object(mut u), Value::Object(o)) => {
            for (k, ov) in o {
                let merged = match u.remove(&k) {
                    None => ov,
                    Some(uv @ Value::Object(_)) if ov.is_object() => merge(uv, ov),
                    Some(Value::Bool(false)) if k.starts_with("has") && ov == Value::Bool(true) => {
                        ov
                    }
                    Some(uv) => uv,
                };
                u.insert(k, merged);
            }
            Value::Object(u)
        }
        (user, _) => user,
    }
}

/// Links every entry of the user's config directory into walkie's (but `.claude.json` and its
/// lock and backups, which are walkie's copy's own). An entry Claude made as a real file or
/// directory in walkie's copy stays (it is Claude's state there); a link whose target the user
/// removed goes.
fn link_entries(dir: &Path, user_dir: Option<&Path>) -> std::io::Result<()> {
    let ours = |name: &str| name.starts_with(GLOBAL_FILE);
    let mut linked = Vec::new();
    if let Some(user_dir) = user_dir {
        let entries = match std::fs::read_dir(user_dir) {
            Ok(e) => e.flatten().collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry.file_name();
            if name.to_str().is_some_and(ours) {
                continue;
            }
            let link = dir.join(&name);
            match std::fs::symlink_metadata(&link) {
                Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(&link)?,
                Ok(_) => continue,
                Err(_) => {}
            }
            std::os::unix::fs::symlink(entry.path(), &link)?;
            linked.push(name);
        }
    }
    // Links to entries the user no longer has (or from a user directory no longer used).
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if is_link && !linked.contains(&name) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(home: &Path) -> BTreeMap<String, String> {
        BTreeMap::from([("HOME".to_string(), home.display().to_string())])
    }

    #[test]
    fn walkies_copy_links_the_users_entries_and_seeds_its_state() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let state = t.path().join("state");
        let user = home.join(".claude");
        std::fs::create_dir_all(user.join("projects")).unwrap();
        std::fs::write(user.join("settings.json"), "{}").unwrap();
        std::fs::write(user.join(".credentials.json"), "{}").unwrap();
        let user_state = json!({"hasCompletedOnboarding": true,
                                "projects": {"/w": {"hasTrustDialogAccepted": true}}});
        std::fs::write(home.join(".claude.json"), user_state.to_string()).unwrap();

        let dir = prepare(&state, "claude", &env(&home)).unwrap();
        assert_eq!(dir, state.join("claude-home/claude"));
        for name in ["projects", "settings.json", ".credentials.json"] {
            assert_eq!(std::fs::read_link(dir.join(name)).unwrap(), user.join(name));
        }
        let copy = std::fs::read_to_string(dir.join(".claude.json")).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&copy).unwrap(), user_state);
        assert!(!dir.join(".claude.json").is_symlink());

        // What Claude saved in walkie's copy (a folder trusted there, its own entry) survives
        // the next start; the user's later changes come in; the user's files are untouched.
        let saved = json!({"hasCompletedOnboarding": true, "numStartups": 3,
                           "projects": {"/w": {"hasTrustDialogAccepted": true},
                                        "/x": {"hasTrustDialogAccepted": true}}});
        std::fs::write(dir.join(".claude.json"), saved.to_string()).unwrap();
        std::fs::create_dir(dir.join("todos")).unwrap();
        let user_state = json!({"hasCompletedOnboarding": true, "theme": "dark",
                                "projects": {"/w": {"hasTrustDialogAccepted": true},
                                             "/x": {"hasTrustDialogAccepted": false}}});
        std::fs::write(home.join(".claude.json"), user_state.to_string()).unwrap();
        std::fs::remove_file(user.join(".credentials.json")).unwrap();
        assert_eq!(prepare(&state, "claude", &env(&home)).unwrap(), dir);
        let copy: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(".claude.json")).unwrap())
                .unwrap();
        assert_eq!(copy["theme"], "dark");
        assert_eq!(copy["numStartups"], 3);
        assert_eq!(copy["projects"]["/x"]["hasTrustDialogAccepted"], true);
        assert!(dir.join("todos").is_dir() && !dir.join("todos").is_symlink());
        assert!(std::fs::symlink_metadata(dir.join(".credentials.json")).is_err());
        assert_eq!(
            serde_json::from_str::<Value>(
                &std::fs::read_to_string(home.join(".claude.json")).unwrap()
            )
            .unwrap(),
            user_state
        );
    }

    #[test]
    fn a_user_config_dir_is_followed_and_a_missing_one_gives_a_plain_copy() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        let own = t.path().join("own");
        std::fs::create_dir_all(own.join("agents")).unwrap();
        std::fs::write(
            own.join(".claude.json"),
            r#"{"hasCompletedOnboarding":true}"#,
        )
        .unwrap();
        let env = BTreeMap::from([("CLAUDE_CONFIG_DIR".to_string(), own.display().to_string())]);
        let dir = prepare(&state, "c", &env).unwrap();
        assert_eq!(
            std::fs::read_link(dir.join("agents")).unwrap(),
            own.join("agents")
        );
        // The user's .claude.json inside their directory is copied, not linked.
        assert!(!dir.join(".claude.json").is_symlink());
        // No user state at all: an empty object Claude fills in.
        let bare = t.path().join("bare");
        let dir = prepare(&state, "d", &super::tests::env(&bare)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join(".claude.json")).unwrap(),
            "{}"
        );
    }

    #[test]
    fn merge_keeps_answered_dialogs_and_the_users_values() {
        let m = merge(
            json!({"hasSeenAutoDefaultNotice": false, "autoUpdates": false, "a": {"b": 1}}),
            json!({"hasSeenAutoDefaultNotice": true, "autoUpdates": true, "a": {"c": 2}}),
        );
        assert_eq!(
            m,
            json!({"hasSeenAutoDefaultNotice": true, "autoUpdates": false, "a": {"b": 1, "c": 2}})
        );
    }
}
